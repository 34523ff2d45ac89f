/**
 * Learning-rate schedule (paper, SPEC §6b): linear warm-up to the peak, then linear decay to
 * `finalFraction` (4%) of the peak at the last step. `totalSteps` is the whole run's length, so a
 * resumed run follows the same curve.
 */
export interface Schedule {
  peak: number;
  warmupSteps: number;
  totalSteps: number;
  finalFraction: number;
}

export function defaultWarmup(totalSteps: number): number {
  return Math.max(1, Math.min(200, Math.round(totalSteps * 0.1)));
}

/** Learning rate for optimiser step `step` (1-based). */
export function learningRate(s: Schedule, step: number): number {
  if (step <= s.warmupSteps) return (s.peak * step) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  return s.peak * (1 - (1 - s.finalFraction) * progress);
}
