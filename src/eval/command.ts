/**
 * The `eval` and `report` commands:
 *   diff-transformer eval NAME [--quick] [--out DIR] [--seeds N] [--backend NAME] [--no-train]
 *   diff-transformer report    [--quick] [--out DIR] [--seeds N] [--backend NAME] [--no-train]
 * Progress goes to stderr, the claims table and the output paths to stdout; errors are thrown as one
 * line (the CLI's main prints them).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { EXPERIMENTS } from './experiment.ts';
import { checkExperimentName, claimsTable, defaultSettings, runExperiment, runReport } from './report.ts';

const positiveInteger = (name: string) => (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError(`${name} must be a positive integer, found "${value}"`);
  return n;
};

interface Flags {
  quick?: boolean;
  out?: string;
  seeds?: number;
  backend: string;
  train: boolean;
}

const withFlags = (cmd: Command) =>
  cmd
    .option('--quick', 'toy sizes and few steps: exercises the pipeline in minutes (1 seed by default)')
    .option('--out <dir>', 'output folder (default reports/full or reports/quick)')
    .option('--seeds <n>', 'seeds per configuration (default 5, quick 1)', positiveInteger('--seeds'))
    .option('--no-train', 'build from the cached runs only (missing runs: "pending")')
    .option('--backend <name>', 'compute backend: auto | js | native', 'auto');

const settingsOf = (o: Flags) =>
  defaultSettings({
    quick: o.quick ?? false,
    out: o.out,
    seeds: o.seeds,
    backend: o.backend,
    train: o.train,
    log: (line) => process.stderr.write(`${line}\n`),
  });

export function registerEvalCommands(program: Command): void {
  withFlags(
    program
      .command('eval')
      .description("run one of the paper's experiments at small scale")
      .argument('<name>', `experiment: ${EXPERIMENTS.join(', ')}`),
  ).action(async (name: string, o: Flags) => {
    checkExperimentName(name);
    const { result, page, seconds } = await runExperiment(name, settingsOf(o));
    process.stdout.write(`${claimsTable(result.claims)}\n\n${name}: ${page} (${seconds.toFixed(0)} s)\n`);
  });

  withFlags(program.command('report').description('run every experiment and write DIR/REPORT.md')).action(
    async (o: Flags) => {
      const { path, seconds } = await runReport(settingsOf(o));
      process.stdout.write(`report: ${path} (${(seconds / 60).toFixed(1)} min)\n`);
    },
  );
}
