/**
 * What the hallucination section reads off each run's probes: its rates over the items (by context
 * length), its calibration, and the per-run measures of the section's tables, the greedy answers'
 * rates and the teacher-forced probabilities of the answers.
 */
import { type AnswersProbe, KIND_OF, type ProbabilitiesProbe } from './hallucination-runs.ts';
import { calibration, isRight, type Outcome, type Rates, rates } from './hallucination-score.ts';
import type { QuestionKind } from './hallucination-task.ts';
import type { RunRecord } from './run-record.ts';
import { mean } from './stats.ts';

export const answersOf = (r: RunRecord) => r.probes['hallucination-answers'] as AnswersProbe;

/** The run's rates over the items of one context length (all lengths when omitted). */
export function runRates(r: RunRecord, length?: number): Rates {
  const a = answersOf(r);
  const keep = a.lengths.map((L) => length === undefined || L === length);
  const kinds = [...a.kinds].map((k) => KIND_OF[k]).filter((_, i) => keep[i]);
  const outcomes = [...a.outcomes].filter((_, i) => keep[i]) as Outcome[];
  return rates(kinds, outcomes);
}

/** Per stored item, whether its greedy answer is right. */
export const rightAnswers = (a: AnswersProbe): boolean[] =>
  [...a.outcomes].map((o, i) => isRight(KIND_OF[a.kinds[i]], o as Outcome));

export function runCalibration(r: RunRecord) {
  const a = answersOf(r);
  return calibration(a.probabilities, rightAnswers(a));
}

export type Measure = (r: RunRecord) => number;

/**
 * Mean over the run's items of one kind of a function of the teacher-forced probabilities:
 * `none` of " none.", `target` of the asked / near-miss fact's value (0 for absent keys), `others`
 * summed over the other facts' values.
 */
function meanProbability(
  r: RunRecord,
  kind: QuestionKind,
  f: (p: { none: number; target: number; others: number }) => number,
): number {
  const a = answersOf(r);
  const p = r.probes['hallucination-probabilities'] as ProbabilitiesProbe;
  const xs: number[] = [];
  for (let i = 0; i < a.kinds.length; i++) {
    if (KIND_OF[a.kinds[i]] !== kind) continue;
    const t = p.target[i];
    const all = p.facts[i].reduce((s, x) => s + x, 0);
    const target = t >= 0 ? p.facts[i][t] : 0;
    xs.push(f({ none: p.none[i], target, others: all - target }));
  }
  return mean(xs);
}

/** Probability measures: a graded view of the greedy choice (it can show retrieval that greedy "none" hides). */
export const PROBABILITY_MEASURES: Array<{ key: string; label: string; of: Measure }> = [
  {
    key: 'pAsked',
    label: 'P(asked value), present',
    of: (r) => meanProbability(r, 'present', (p) => p.target),
  },
  {
    key: 'askedShare',
    label: 'asked value / all context values, present',
    of: (r) => meanProbability(r, 'present', (p) => p.target / (p.target + p.others)),
  },
  { key: 'pNonePresent', label: 'P(none), present', of: (r) => meanProbability(r, 'present', (p) => p.none) },
  { key: 'pNoneAbsent', label: 'P(none), absent', of: (r) => meanProbability(r, 'absent', (p) => p.none) },
  {
    key: 'pContextAbsent',
    label: 'P(any context value), absent',
    of: (r) => meanProbability(r, 'absent', (p) => p.others),
  },
  { key: 'pNoneNear', label: 'P(none), near-miss', of: (r) => meanProbability(r, 'nearMiss', (p) => p.none) },
  {
    key: 'pNear',
    label: 'P(near-miss value), near-miss',
    of: (r) => meanProbability(r, 'nearMiss', (p) => p.target),
  },
  {
    key: 'pOtherNear',
    label: 'P(other context values), near-miss',
    of: (r) => meanProbability(r, 'nearMiss', (p) => p.others),
  },
];

export const MEASURES: Array<{ key: string; label: string; of: Measure }> = [
  { key: 'presentAccuracy', label: 'accuracy, present key', of: (r) => runRates(r).presentAccuracy },
  { key: 'falseNone', label: '"none" when present', of: (r) => runRates(r).falseNone },
  { key: 'hallucination', label: 'hallucination, absent + near-miss', of: (r) => runRates(r).hallucination },
  { key: 'absent', label: 'hallucination, absent key', of: (r) => runRates(r).absent.hallucination },
  { key: 'absentContext', label: '… a value from the context', of: (r) => runRates(r).absent.context },
  { key: 'absentOutside', label: '… not in the context', of: (r) => runRates(r).absent.outside },
  { key: 'nearMiss', label: 'hallucination, near-miss key', of: (r) => runRates(r).nearMiss.hallucination },
  { key: 'nearMissCopy', label: '… the near-miss value', of: (r) => runRates(r).nearMiss.nearMiss },
  { key: 'nearMissContext', label: '… another context value', of: (r) => runRates(r).nearMiss.context },
  { key: 'nearMissOutside', label: '… not in the context', of: (r) => runRates(r).nearMiss.outside },
  { key: 'ece', label: 'ECE (answer probability)', of: (r) => runCalibration(r).ece },
];
