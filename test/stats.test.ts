/**
 * The statistics behind the report's verdicts (src/eval/stats.ts) against published values: Student-t
 * quantiles from the standard tables and SciPy (scipy.stats.t.ppf / cdf, ttest_ind(equal_var=False)),
 * TOST decisions on constructed samples, a bootstrap interval that must cover, and Holm's adjustment.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  bootstrap,
  formatInterval,
  holm,
  mean,
  meanInterval,
  tCdf,
  tost,
  tQuantile,
  welch,
} from '../src/eval/stats.ts';

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

describe('Student t', () => {
  test('quantiles equal the tables (and SciPy for non-integer df)', () => {
    const known: Array<[number, number, number]> = [
      [0.975, 1, 12.706204736174703],
      [0.975, 2, 4.302652729749464],
      [0.975, 4, 2.7764451051977987],
      [0.975, 10, 2.2281388519649385],
      [0.975, 30, 2.0422724563012373],
      [0.95, 5, 2.015048373333024],
      [0.995, 3, 5.840909309733349],
      [0.975, 2.5, 3.5746548420036817],
      [0.975, Number.POSITIVE_INFINITY, 1.959963984540054],
    ];
    for (const [p, df, q] of known) close(tQuantile(p, df), q, 1e-9 * q, `t(${p}, ${df})`);
    close(tQuantile(0.025, 4), -2.7764451051977987, 1e-9, 'lower tail is symmetric');
    assert.equal(tQuantile(0.5, 7), 0);
    assert.ok(Number.isNaN(tQuantile(1, 3)) && Number.isNaN(tQuantile(0.9, 0)));
  });

  test('CDF equals SciPy and inverts the quantile', () => {
    close(tCdf(1.3, 3.7), 0.8656666379136863, 1e-12, 'cdf(1.3, 3.7)');
    close(tCdf(0, 9), 0.5, 1e-15, 'cdf(0)');
    for (const df of [1, 3, 12.5]) close(tCdf(tQuantile(0.9, df), df), 0.9, 1e-11, `round trip df ${df}`);
  });
});

describe('intervals and tests', () => {
  test('Welch interval, df and p equal SciPy ttest_ind(equal_var=False)', () => {
    const a = [3.1, 3.3, 2.9, 3.05, 3.2];
    const b = [3.4, 3.35, 3.6, 3.3];
    const w = welch(a, b);
    close(w.df!, 6.91180136127865, 1e-9, 'df');
    close(w.p, 0.015276058949026115, 1e-9, 'p');
    close(w.lo, -0.5264443260276459, 1e-9, 'lo');
    close(w.hi, -0.07855567397235272, 1e-9, 'hi');
    close(w.estimate, mean(a) - mean(b), 1e-15, 'estimate');
  });

  test('a mean interval is infinite with one value and shrinks like 1/√n', () => {
    const one = meanInterval([2]);
    assert.equal(one.lo, Number.NEGATIVE_INFINITY);
    assert.equal(one.hi, Number.POSITIVE_INFINITY);
    const i = meanInterval([1, 2, 3, 4]);
    // mean 2.5, sd √(5/3), se = sd/2, t(0.975, 3) = 3.182446305284263
    close(i.hi - i.estimate, (3.182446305284263 * Math.sqrt(5 / 3)) / 2, 1e-9, 'half width');
    assert.equal(formatInterval(i, 2), '2.50 [0.45, 4.55]');
  });

  test('TOST: equivalent only when the 90% interval lies inside the margin', () => {
    const a = [1.0, 1.01, 0.99, 1.0, 1.005];
    const b = [1.002, 0.998, 1.0, 1.001, 0.999];
    assert.ok(tost(a, b, 0.02).equivalent);
    assert.ok(!tost(a, b, 0.001).equivalent, 'margin smaller than the noise');
    const noisy = [0.9, 1.1, 0.95, 1.08, 1.0];
    const r = tost(noisy, b, 0.02);
    assert.ok(!r.equivalent, 'a noisy sample is not evidence of equivalence');
    assert.ok(r.p > 0.05);
    assert.ok(!tost([1], [1], 1).equivalent, 'one value per side: never equivalent');
  });

  test('bootstrap interval of a mean covers the mean and is deterministic', () => {
    const xs = [1, 2, 3, 4, 5, 6, 7, 8];
    const r = bootstrap([xs], ([g]) => mean(g), { resamples: 1000, seed: 3 });
    assert.equal(r.estimate, 4.5);
    assert.ok(r.lo < 4.5 && r.hi > 4.5 && r.lo > 2 && r.hi < 7, `${r.lo} ${r.hi}`);
    assert.deepEqual(
      bootstrap([xs], ([g]) => mean(g), { resamples: 1000, seed: 3 }),
      r,
    );
  });

  test('Holm adjusts the smallest p by m, keeps monotone order, skips NaN', () => {
    const adj = holm([0.01, 0.04, Number.NaN, 0.03]);
    close(adj[0], 0.03, 1e-15, 'smallest × 3');
    close(adj[3], 0.06, 1e-15, 'second × 2');
    close(adj[1], 0.06, 1e-15, 'largest × 1, but not below the previous');
    assert.ok(Number.isNaN(adj[2]));
  });
});
