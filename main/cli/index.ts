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
  const load = groups[name];
  if (!load) throw new CliError(`unknown command "${name}" (expected one of: ${Object.keys(groups).join(', ')})`);
  const group = await load();
  return (await group(rest)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`error: ${message.split('\n')[0]}\n`);
    if (process.env.PTQ4SAM_DEBUG) console.error(err);
    process.exit(1);
  },
);
