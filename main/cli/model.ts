/** `model import` and `model synth`. */
import { CliError, integerOption, optional, parseArgs, required, type CommandGroup } from './args.ts';
import { withAtomicOutDir } from './output.ts';
import { stderrProgress } from './progress.ts';
import { importModel, synthModel } from '../sam/model-dir.ts';


const verbs: Record<string, (argv: string[]) => Promise<void>> = {
  async import(argv) {
    const args = parseArgs(argv, ['out', 'config', 'name', 'licence']);
    if (args.positional.length !== 1) throw new CliError('usage: model import <file.pth | dir with encoder.onnx and decoder.onnx> --out <modelDir> [--config <json>]');
    const out = required(args, 'out');
    const info = await withAtomicOutDir(out, (tmp) => importModel(args.positional[0]!, tmp, {
      configPath: optional(args, 'config'), name: optional(args, 'name'), licence: optional(args, 'licence'), onProgress: stderrProgress(),
    }));
    process.stdout.write(`${JSON.stringify({ id: info.id, architecture: info.architecture, dir: out })}\n`);
  },
  async synth(argv) {
    const args = parseArgs(argv, ['arch', 'depth', 'seed', 'out']);
    const arch = required(args, 'arch');
    if (arch !== 'vit_b' && arch !== 'vit_l' && arch !== 'vit_h') throw new CliError(`--arch must be vit_b, vit_l or vit_h, got "${arch}"`);
    const depth = integerOption(args, 'depth', 1, 64);
    const seed = integerOption(args, 'seed', 0, 2 ** 31) ?? 0;
    const info = await withAtomicOutDir(required(args, 'out'), (tmp) => synthModel(arch, tmp, { depth, seed, onProgress: stderrProgress() }));
    process.stdout.write(`${JSON.stringify({ id: info.id, architecture: info.architecture, dir: required(args, 'out') })}\n`);
  },
};

export const modelCommands: CommandGroup = async (argv) => {
  const [verb, ...rest] = argv;
  const run = verb && Object.hasOwn(verbs, verb) ? verbs[verb] : undefined;
  if (!run) throw new CliError(`usage: model <${Object.keys(verbs).join('|')}> ...`);
  await run(rest);
};
