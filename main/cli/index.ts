/**
 * main/cli: the headless command line, `npm run --silent cli -- <command> ...`.
 * It drives the same services as the app (main/sam, main/ptq4sam, main/project) and owns only
 * argument parsing and printing. Each command group lives in its own file and registers in the
 * table below. Errors print one line on stderr and exit non-zero.
 */
import { CliError, type CommandGroup } from './args.ts';

const groups: Record<string, () => Promise<CommandGroup>> = {
  model: async () => (await import('./model.ts')).modelCommands,
  embed: async () => (await import('./segment.ts')).embedCommand,
  segment: async () => (await import('./segment.ts')).segmentCommand,
  project: async () => (await import('./project.ts')).projectCommands,
  quantize: async () => (await import('./quantize.ts')).quantizeCommand,
  eval: async () => (await import('./eval.ts')).evalCommand,
  setup: async () => (await import('./setup.ts')).setupCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(`usage: cli <${Object.keys(groups).join('|')}> ...\n`);
    return name ? 0 : 2;
  }
  const load = Object.hasOwn(groups, name) ? groups[name] : undefined;
  if (!load) throw new CliError(`unknown command "${name}" (expected one of: ${Object.keys(groups).join(', ')})`);
  const group = await load();
  return (await group(rest)) ?? 0;
}

/**
 * Ends with `code` once everything written to stdout and stderr has left the process. On a pipe
 * the writes are asynchronous: exiting right after them would cut the output at the pipe's
 * buffer (64 KiB) and still report success. The exit itself stays explicit because onnxruntime
 * and worker threads can keep the event loop alive after the command is done.
 */
function exitAfterOutput(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const flushed = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', flushed);
  process.stderr.write('', flushed);
}

main(process.argv.slice(2)).then(
  (code) => exitAfterOutput(code),
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`error: ${message.split('\n')[0]}\n`);
    if (process.env.PTQ4SAM_DEBUG) console.error(err);
    exitAfterOutput(1);
  },
);
