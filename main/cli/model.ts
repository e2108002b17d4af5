/** `model import` and `model synth`. */
import { CliError, integerOption, optional, parseArgs, required, type CommandGroup } from './args.ts';
import { withAtomicOutDir } from './output.ts';
import { stageProgress } from './progress.ts';
import { importModel, synthModel, synthSam2Model } from '../sam/model-dir.ts';

const SAM2_ARCHS = ['hiera_t', 'hiera_s', 'hiera_b+', 'hiera_l'] as const;


const verbs: Record<string, (argv: string[]) => Promise<void>> = {
  async import(argv) {
    const args = parseArgs(argv, ['out', 'config', 'name', 'licence']);
    if (args.positional.length !== 1) throw new CliError('usage: model import <file.pth | dir with encoder.onnx and decoder.onnx> --out <modelDir> [--config <json>]');
    const out = required(args, 'out');
    const info = await withAtomicOutDir(out, (tmp) => importModel(args.positional[0]!, tmp, {
      configPath: optional(args, 'config'), name: optional(args, 'name'), licence: optional(args, 'licence'), onProgress: stageProgress(),
    }));
    process.stdout.write(`${JSON.stringify({ id: info.id, architecture: info.architecture, dir: out })}\n`);
  },
  async synth(argv) {
    const args = parseArgs(argv, ['arch', 'depth', 'seed', 'out']);
    const arch = required(args, 'arch');
    const seed = integerOption(args, 'seed', 0, 2 ** 31) ?? 0;
    const sam2 = SAM2_ARCHS.find((a) => a === arch);
    if (sam2) {
      if (optional(args, 'depth') !== undefined) throw new CliError('--depth applies to SAM (vit_*) only');
      const info = await withAtomicOutDir(required(args, 'out'), (tmp) => synthSam2Model(sam2, tmp, { seed, onProgress: stageProgress() }));
      process.stdout.write(`${JSON.stringify({ id: info.id, architecture: info.architecture, dir: required(args, 'out') })}\n`);
      return;
    }
    if (arch !== 'vit_b' && arch !== 'vit_l' && arch !== 'vit_h') throw new CliError(`--arch must be vit_b, vit_l, vit_h or ${SAM2_ARCHS.join(', ')}, got "${arch}"`);
    const depth = integerOption(args, 'depth', 1, 64);
    const info = await withAtomicOutDir(required(args, 'out'), (tmp) => synthModel(arch, tmp, { depth, seed, onProgress: stageProgress() }));
    process.stdout.write(`${JSON.stringify({ id: info.id, architecture: info.architecture, dir: required(args, 'out') })}\n`);
  },
};

export const modelCommands: CommandGroup = async (argv) => {
  const [verb, ...rest] = argv;
  const run = verb && Object.hasOwn(verbs, verb) ? verbs[verb] : undefined;
  if (!run) throw new CliError(`usage: model <${Object.keys(verbs).join('|')}> ...`);
  await run(rest);
};
