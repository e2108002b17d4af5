/**
 * `quantize`: PTQ4SAM quantization of a model directory (docs: README, PTQ4SAM section).
 */
import { existsSync } from 'node:fs';
import { CliError, integerOption, optional, parseArgs, required, type CommandGroup } from './args.ts';
import { withAtomicOutDir } from './output.ts';
import { stageProgress } from './progress.ts';
import { listImageFiles } from '../base/index.ts';
import { methodNames } from '../ptq4sam/index.ts';
import { DEFAULT_CALIB_COUNT, DEFAULT_SOFTMAX, quantizeModelDir } from '../ptq4sam/pipeline.ts';
import { BIT_SETTINGS, QUANT_BITS, type QuantBits } from '../../preload/contract/enums.ts';

export const quantizeCommand: CommandGroup = async (argv) => {
  const args = parseArgs(argv, ['model', 'calib', 'out', 'bits', 'method', 'calib-count', 'project', 'encoder-softmax'], ['no-big', 'no-agq', 'quantize-token-side']);
  const modelDir = required(args, 'model');
  const calibDir = required(args, 'calib');
  const out = required(args, 'out');
  const bitsName = (optional(args, 'bits') ?? 'w8a8') as QuantBits;
  if (!QUANT_BITS.includes(bitsName)) throw new CliError(`--bits ${bitsName} is not offered (choose ${QUANT_BITS.join(', ')})`);
  const bits = BIT_SETTINGS[bitsName];
  const method = optional(args, 'method') ?? 'ptq4sam';
  if (!methodNames().includes(method)) throw new CliError(`--method ${method} is not offered (choose ${methodNames().join(', ')})`);
  const calibCount = integerOption(args, 'calib-count', 1, 10_000) ?? DEFAULT_CALIB_COUNT;
  const projectDb = optional(args, 'project');
  // uniform (default): integer A.V, an 8-bit grid below a8; agq: the spec's log2 grid in float ops
  const encoderSoftmax = optional(args, 'encoder-softmax') ?? DEFAULT_SOFTMAX.encoder;
  if (encoderSoftmax !== 'uniform' && encoderSoftmax !== 'agq') throw new CliError(`--encoder-softmax ${encoderSoftmax} is not offered (choose uniform, agq)`);
  if (!existsSync(modelDir)) throw new CliError(`${modelDir}: model directory not found`);
  listImageFiles(calibDir); // fail before creating anything
  const progress = stageProgress();
  const report = await withAtomicOutDir(out, (tmp) => quantizeModelDir({
    modelDir, calibDir, outDir: tmp, bits, method, calibCount,
    big: !args.switches.has('no-big'), agq: !args.switches.has('no-agq'), decoderTokenSide: args.switches.has('quantize-token-side'),
    softmax: { ...DEFAULT_SOFTMAX, encoder: encoderSoftmax },
    ...(projectDb ? { projectDb } : {}),
    onProgress: (p) => progress(p.phase, p.done, p.total, p.etaSeconds),
  }));
  process.stdout.write(`${JSON.stringify({ out, method: report.method, bits: report.bits, big: report.big.bimodal, integer_ops: report.integer_ops, size_bytes: report.size_bytes, mean_iou: report.fidelity.mean_iou })}\n`);
};
