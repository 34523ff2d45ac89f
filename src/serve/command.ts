/** `diff-transformer serve`: the browser app and the chosen model folders on 127.0.0.1. */
import { type Command, InvalidArgumentError } from 'commander';
import { startServer } from './server.ts';

const port = (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n > 65535)
    throw new InvalidArgumentError(`--port must be an integer in [0, 65535], found "${value}"`);
  return n;
};
const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerServeCommand(program: Command): Command {
  return program
    .command('serve')
    .description('open the browser app (inference runs in the browser) with the given model folders')
    .option('--model <dir>', 'model folder to offer in the app (repeatable)', collect)
    .option('--port <n>', 'port on 127.0.0.1 (0 = any free port)', port, 5173)
    .action(async (o: { model?: string[]; port: number }) => {
      const running = await startServer({ models: o.model ?? [], port: o.port });
      for (const m of running.models) process.stderr.write(`serving ${m.name} (${m.dir})\n`);
      process.stderr.write('press Ctrl+C to stop\n');
      process.stdout.write(`${running.url}\n`);
      const stop = () => {
        void running.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
