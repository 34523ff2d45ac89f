/**
 * Training progress on stderr: a live bar (loss, tokens/s, ETA) on a terminal, plain log lines
 * otherwise (CI logs, pipes), or nothing when quiet.
 */
import { createRequire } from 'node:module';

export interface ProgressReporter {
  update(step: number, values: { loss: number; tokensPerSecond: number; valLoss?: number }): void;
  log(line: string): void;
  stop(): void;
}

export function createProgress(
  label: string,
  startStep: number,
  totalSteps: number,
  quiet = false,
): ProgressReporter {
  if (quiet) return { update() {}, log() {}, stop() {} };
  if (!process.stderr.isTTY) {
    const every = Math.max(1, Math.round(totalSteps / 20));
    return {
      update(step, v) {
        if (step % every === 0 || step === totalSteps || v.valLoss !== undefined) {
          const val = v.valLoss !== undefined ? ` val ${v.valLoss.toFixed(4)}` : '';
          process.stderr.write(
            `${label} step ${step}/${totalSteps} loss ${v.loss.toFixed(4)}${val} ${Math.round(v.tokensPerSecond)} tok/s\n`,
          );
        }
      },
      log: (line) => process.stderr.write(`${line}\n`),
      stop() {},
    };
  }
  // loaded only for a live bar on a terminal
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} {bar} {value}/{total} | loss {loss} | val {val} | {tps} tok/s | ETA {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(totalSteps, startStep, { loss: '-', val: '-', tps: '-' });
  let lastVal = '-';
  return {
    update(step, v) {
      if (v.valLoss !== undefined) lastVal = v.valLoss.toFixed(4);
      bar.update(step, { loss: v.loss.toFixed(4), val: lastVal, tps: Math.round(v.tokensPerSecond) });
    },
    log(line) {
      bar.stop();
      process.stderr.write(`${line}\n`);
      bar.start(totalSteps, (bar as unknown as { value: number }).value, {
        loss: '-',
        val: lastVal,
        tps: '-',
      });
    },
    stop: () => bar.stop(),
  };
}
