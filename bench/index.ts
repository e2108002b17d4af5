/**
 * `npm run bench -- <name> [args]`: runs one benchmark script; each prints its own table.
 * The scripts also run on their own (`npx tsx bench/<name>.ts`).
 */
export {};

const benches: Record<string, (args: string[]) => Promise<void>> = {
  autolabel: async (args) => (await import('./autolabel.ts')).main(args),
  encoder: async (args) => (await import('./encoder.ts')).main(args),
  fidelity: async (args) => (await import('./fidelity.ts')).main(args),
  image: async (args) => (await import('./image-preprocess.ts')).main(args),
  import: async (args) => (await import('./import.ts')).main(args),
  project: async (args) => (await import('./project.ts')).main(args),
  quant: async (args) => (await import('./quant.ts')).main(args),
  sam: async (args) => (await import('./sam.ts')).main(args),
  ui: async (args) => (await import('./ui.ts')).main(args),
};

const [benchName, ...args] = process.argv.slice(2);
const run = benchName === undefined ? undefined : benches[benchName];
if (!run) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [args]\n`);
  process.exit(2);
}
await run(args);

export {};
