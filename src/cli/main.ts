/**
 * The `diff-transformer` command line: thin — parse flags, call the library, print.
 * Results go to stdout; progress and notices to stderr; every error is one line and a non-zero exit.
 * Each command imports the modules it runs when it runs (training, backends, plotting), so that
 * `--help` and `info` start in a fraction of a second.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_PEAK_GFLOPS, SIZES, type SizeName } from '../bench/run.ts';
import { registerEvalCommands } from '../eval/command.ts';
import { VARIANTS, type Variant } from '../model/config.ts';
import { registerServeCommand } from '../serve/command.ts';
import { PRESETS } from '../train/presets.ts';
import { registerInterchangeCommands } from './interchange.ts';

const integer = (name: string) => (value: string) => {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError(`${name} must be an integer, found "${value}"`);
  return n;
};
const number = (name: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new InvalidArgumentError(`${name} must be a number, found "${value}"`);
  return n;
};
const variant = (value: string): Variant => {
  if (!VARIANTS.includes(value as Variant))
    throw new InvalidArgumentError(`expected one of ${VARIANTS.join(', ')}, found "${value}"`);
  return value as Variant;
};
const weightDtype = (value: string): 'f32' | 'bf16' => {
  if (value !== 'f32' && value !== 'bf16')
    throw new InvalidArgumentError(`--dtype must be f32 or bf16, found "${value}"`);
  return value;
};
const collect = (value: string, previous: string[] = []) => [...previous, value];

export function buildProgram(): Command {
  const program = new Command('diff-transformer')
    .description(
      'Differential Transformer (DIFF V1, V2) and its parameter-matched baseline: train, run, inspect',
    )
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`${str.split('\n')[0]}\n`) });

  const trainingFlags = (cmd: Command) =>
    cmd
      .requiredOption('--preset <name>', `model size: ${Object.keys(PRESETS).join(', ')}`)
      .option(
        '--data <path>',
        'text file or folder (repeatable); default: the embedded Moby Dick corpus',
        collect,
      )
      .requiredOption('--out <dir>', 'output folder')
      .option('--steps <n>', 'total optimiser steps of the run (fixes the LR schedule)', integer('--steps'))
      .option('--batch <n>', 'sequences per step', integer('--batch'))
      .option('--seq <n>', 'tokens per sequence', integer('--seq'))
      .option('--lr <x>', 'peak learning rate', number('--lr'))
      .option('--seed <n>', 'random seed (init, batches)', integer('--seed'))
      .option('--vocab <n>', 'BPE vocabulary size (≥ 257)', integer('--vocab'))
      .option('--eval-every <n>', 'validation every N steps', integer('--eval-every'))
      .option('--save-every <n>', 'checkpoint every N steps', integer('--save-every'))
      .option('--backend <name>', 'js | auto (and native when built)', 'auto')
      .option('--quiet', 'no progress output');

  trainingFlags(
    program
      .command('train')
      .description('train one model; the output folder becomes a model folder')
      .requiredOption('--variant <name>', 'diff | baseline | diffv2', variant)
      .option('--resume', 'continue the run in --out from its last checkpoint'),
  ).action(async (o) => {
    const { train } = await import('../train/trainer.ts');
    const r = await train({ ...o, data: o.data });
    process.stdout.write(
      `${r.config.variant}: ${r.parameters} parameters, ${r.steps} steps, val loss ${r.finalValLoss.toFixed(4)}, ${r.finalValBpb.toFixed(4)} bits/byte, ${r.stepsRun > 0 ? `${Math.round(r.tokensPerSecond)} tokens/s` : 'already finished'} (${r.backend}) → ${r.out}\n`,
    );
  });

  trainingFlags(
    program.command('compare').description('train DIFF V1, the baseline and DIFF V2 alike and compare them'),
  ).action(async (o) => {
    const { compare } = await import('../train/compare.ts');
    const r = await compare({ ...o, data: o.data });
    process.stdout.write(`${r.table}\n\nreport: ${r.reportPath}\n`);
  });

  program
    .command('generate')
    .description('generate text from a trained model folder (text on stdout, streamed)')
    .requiredOption('--model <dir>', 'model folder (config.json, model.safetensors, tokenizer.json)')
    .requiredOption('--prompt <text>', 'text to continue')
    .option('--max-tokens <n>', 'tokens to generate', integer('--max-tokens'), 100)
    .option('--temperature <x>', '0 = greedy; <1 sharper, >1 flatter', number('--temperature'), 0.8)
    .option('--top-k <k>', 'keep the k most likely tokens (0 = all)', integer('--top-k'), 0)
    .option('--top-p <p>', 'nucleus: keep the most likely tokens up to probability p', number('--top-p'), 1)
    .option('--seed <n>', 'sampling seed', integer('--seed'), 0)
    .option('--no-cache', 'recompute the whole prefix each step instead of using the KV cache')
    .option('--backend <name>', 'js | auto (and native when built)', 'auto')
    .option(
      '--dtype <name>',
      'weights: f32 | bf16 (rounded at load, float32 sums; native reads half the bytes)',
      weightDtype,
      'f32',
    )
    .action(async (o) => {
      const [
        { createBackend },
        { loadModelFolder },
        { TOKENIZER_FILE },
        { Tokenizer },
        { generateText },
        { bf16Model },
      ] = await Promise.all([
        import('../backends/index.ts'),
        import('../io/model-folder.ts'),
        import('../train/trainer.ts'),
        import('../tokenizer/index.ts'),
        import('../generate/generate.ts'),
        import('../generate/bf16.ts'),
      ]);
      const backend = createBackend(o.backend);
      const loaded = loadModelFolder(o.model, backend);
      const model = o.dtype === 'bf16' ? bf16Model(loaded) : loaded;
      const tokenizerPath = join(o.model, TOKENIZER_FILE);
      if (!existsSync(tokenizerPath))
        throw new Error(
          `${o.model} has no ${TOKENIZER_FILE}: generation needs the tokenizer the model was trained with`,
        );
      const tokenizer = Tokenizer.fromFile(tokenizerPath);
      if (tokenizer.vocabSize !== model.config.vocab_size) {
        throw new Error(
          `${tokenizerPath} has ${tokenizer.vocabSize} tokens but the model expects vocab_size ${model.config.vocab_size}`,
        );
      }
      process.stderr.write(
        `[${model.config.variant}, backend ${backend.name}, ${o.dtype} weights${o.cache ? ', KV cache' : ', no cache'}]\n`,
      );
      generateText(
        model,
        tokenizer,
        o.prompt,
        {
          maxTokens: o.maxTokens,
          temperature: o.temperature,
          topK: o.topK,
          topP: o.topP,
          seed: o.seed,
          useCache: o.cache,
          dtype: o.dtype,
        },
        (piece) => process.stdout.write(piece),
      );
      process.stdout.write('\n');
    });

  program
    .command('info')
    .description('describe a model folder: config, parameters by group, λ per layer')
    .requiredOption('--model <dir>', 'model folder')
    .option('--json', 'print JSON')
    .option('--backend <name>', 'js | auto (and native when built)', 'auto')
    .action(async (o) => {
      const [{ createBackend }, { modelInfo, printModelInfo }] = await Promise.all([
        import('../backends/index.ts'),
        import('./info.ts'),
      ]);
      const info = modelInfo(o.model, createBackend(o.backend));
      process.stdout.write(o.json ? `${JSON.stringify(info, null, 2)}\n` : printModelInfo(info));
    });

  registerServeCommand(program);
  registerEvalCommands(program);
  registerInterchangeCommands(program);

  program
    .command('bench')
    .description('training and generation tokens/s, MFU and peak memory per variant, size and backend')
    .option('--json', 'print one JSON array of records')
    .option('--size <name>', `one size only: ${Object.keys(SIZES).join(', ')}`)
    .option('--variant <name>', 'one variant only', variant)
    .option('--backend <name>', 'one backend only (default: every backend that loads)')
    .option('--seconds <s>', 'measuring time per case', number('--seconds'), 3)
    .option(
      '--peak <gflops>',
      `fp32 peak GFLOP/s for MFU (default: measured with an FMA loop, or ${DEFAULT_PEAK_GFLOPS} without the native addon)`,
      number('--peak'),
    )
    .option('--no-torch', 'skip the PyTorch comparison')
    .option('--no-memory', 'skip the long-sequence memory cases')
    .option('--no-generate', 'skip generation')
    .option('--no-gemm', 'skip the per-shape GEMM comparison (own GEMM vs OpenBLAS)')
    .option('--no-openblas', 'skip the native cases on OpenBLAS (run beside the own GEMM when it loads)')
    .action(async (o) => {
      const { backendNames, createBackend } = await import('../backends/index.ts');
      const {
        benchTable,
        generationTable,
        matmulBenchLine,
        measuredPeakGflops,
        runBenchmarks,
        streamBandwidth,
        tokenizerBenchLine,
      } = await import('../bench/run.ts');
      const { loadNativeAddon, gemmDescription } = await import('../backends/native/index.ts');
      const { gemmBench } = await import('../bench/gemm.ts');
      if (o.size && !(o.size in SIZES))
        throw new Error(`unknown size "${o.size}" (available: ${Object.keys(SIZES).join(', ')})`);
      const backends = o.backend ? [createBackend(o.backend).name] : backendNames();
      const narrowed = Boolean(o.size || o.variant);
      const peak =
        o.peak !== undefined ? { gflops: o.peak as number, source: '--peak' } : measuredPeakGflops();
      process.stderr.write(`MFU against a peak of ${peak.gflops} GFLOP/s (${peak.source})\n`);
      const addon = loadNativeAddon();
      const gemmLine = addon ? `native GEMM: ${gemmDescription(addon)}` : 'native GEMM: addon absent';
      process.stderr.write(`${gemmLine}\n`);
      const bandwidth = o.generate && !o.size ? streamBandwidth() : null;
      const records = runBenchmarks({
        backends,
        variants: o.variant ? [o.variant] : [...VARIANTS],
        sizes: o.size ? [o.size as SizeName] : (Object.keys(SIZES) as SizeName[]),
        seconds: o.seconds,
        peakGflops: peak.gflops,
        torch: o.torch,
        memory: o.memory && !narrowed,
        generate: o.generate && !o.size,
        openblas: o.openblas,
        onRecord: (r) => {
          if (!o.json)
            process.stderr.write(
              `${r.mode} ${r.variant} ${r.backend} d${r.d_model} T${r.seq}: ${r.tokens_per_s} tokens/s\n`,
            );
        },
      });
      if (o.json) process.stdout.write(`${JSON.stringify(records)}\n`);
      else {
        const matmul = backends.filter((b) => b !== 'js').map((b) => matmulBenchLine(b));
        const peakLine = `fp32 peak for MFU: ${peak.gflops} GFLOP/s (${peak.source})`;
        const generation = generationTable(records, bandwidth);
        const gemm = o.gemm ? gemmBench(o.size ? { [o.size]: SIZES[o.size as SizeName] } : SIZES) : null;
        process.stdout.write(
          `${benchTable(records)}\n\n${generation ? `${generation}\n\n` : ''}${[peakLine, gemmLine, ...matmul, tokenizerBenchLine()].join('\n')}\n${gemm ? `\n${gemm}\n` : ''}`,
        );
      }
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    const e = error as Error & { code?: string; exitCode?: number };
    if (e.code?.startsWith('commander.')) return e.exitCode ?? 1; // commander already printed its one line
    process.stderr.write(`diff-transformer: ${e.message.split('\n')[0]}\n`);
    if (process.env.DIFF_TRANSFORMER_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
