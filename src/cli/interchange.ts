/**
 * `diff-transformer import` and `export`: Hugging Face folders in and out, ONNX out. The work is
 * loaded lazily inside each action, so registering these commands costs nothing at start-up.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { ModelConfig } from '../model/config.ts';

const FORMATS = ['hf', 'onnx'] as const;
const DTYPES = ['fp32', 'fp16'] as const;

const oneOf =
  <T extends string>(flag: string, values: readonly T[]) =>
  (value: string): T => {
    if (!values.includes(value as T))
      throw new InvalidArgumentError(`${flag} must be one of ${values.join(', ')}, found "${value}"`);
    return value as T;
  };
const positiveInteger = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError(`${flag} must be a positive integer, found "${value}"`);
  return n;
};

const describe = (c: ModelConfig) =>
  `${c.variant}, ${c.n_layers} layers, d_model ${c.d_model}, ${c.n_heads} heads (${c.n_kv_heads} kv) × ${c.head_dim}, vocab ${c.vocab_size}`;

export function registerInterchangeCommands(program: Command): void {
  program
    .command('import')
    .description('convert a Hugging Face DiffLlama (→ diff) or Llama (→ baseline) folder into a model folder')
    .requiredOption(
      '--from <dir>',
      'Hugging Face folder (config.json, model.safetensors or sharded, tokenizer)',
    )
    .requiredOption('--out <dir>', 'new model folder (must not exist or be empty)')
    .action(async (o: { from: string; out: string }) => {
      const { importHfFolder } = await import('../interchange/hf-folder.ts');
      const r = importHfFolder(o.from, o.out);
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
      const tokenizer = r.copied.length ? `, copied ${r.copied.join(', ')}` : ', no tokenizer';
      process.stdout.write(
        `${r.from} → ${describe(r.config)}: ${r.tensors} tensors${tokenizer} → ${o.out}\n`,
      );
    });

  program
    .command('export')
    .description(
      'write a model folder as a Hugging Face folder (diff, baseline) or an ONNX folder (all variants)',
    )
    .requiredOption('--model <dir>', 'model folder')
    .requiredOption('--format <name>', FORMATS.join(' | '), oneOf('--format', FORMATS))
    .requiredOption('--out <dir>', 'new folder (must not exist or be empty)')
    .option('--dtype <name>', 'onnx weights: fp32 | fp16', oneOf('--dtype', DTYPES), 'fp32')
    .option('--max-positions <n>', 'max_position_embeddings to declare', positiveInteger('--max-positions'))
    .action(
      async (o: { model: string; format: string; out: string; dtype: string; maxPositions?: number }) => {
        if (o.format === 'onnx') {
          const { exportOnnxFolder } = await import('../interchange/onnx-folder.ts');
          const dtype = o.dtype as 'fp32' | 'fp16';
          const r = exportOnnxFolder(o.model, o.out, { dtype, maxPositions: o.maxPositions });
          process.stdout.write(`${r.variant}: ${r.nodes} nodes, ${r.bytes} bytes → ${r.path}\n`);
          return;
        }
        if (o.dtype !== 'fp32') throw new Error('--dtype applies to --format onnx only (hf exports float32)');
        const { exportHfFolder } = await import('../interchange/hf-folder.ts');
        const r = exportHfFolder(o.model, o.out, { maxPositions: o.maxPositions });
        process.stdout.write(
          `${r.config.model_type}: ${r.tensors} tensors${r.copied.length ? `, ${r.copied.join(', ')}` : ''} → ${o.out}\n`,
        );
      },
    );
}
