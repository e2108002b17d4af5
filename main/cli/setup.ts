/**
 * `setup`: from a catalog model to a quantized model directory in one command (download, build,
 * quantize, evaluate). Progress goes to stderr; stdout gets only the path of the quantized
 * model's report.json. Run again with the same arguments after an interruption to resume.
 */
import { resolve } from 'node:path';
import { stderrProgress } from './progress.ts';
import { CliError, integerOption, optional, parseArgs, required, type CommandGroup } from './args.ts';
import { findModel, loadCatalog } from '../setup/catalog.ts';
import { resolveHubModel } from '../setup/hub.ts';
import { appCacheDir } from '../setup/download/index.ts';
import { checkSetupOut, runSetup, type SetupProgress } from '../setup/pipeline.ts';
import { QUANT_BITS, type QuantBits } from '../../preload/contract/enums.ts';

const usage = `usage: setup --model <catalog id> [--catalog <url|file>] [--bits ${QUANT_BITS.join('|')}] [--calib <dir>] [--file <local copy>] [--cache-dir <dir>] [--stall-timeout <s>] [--use-alternative] --out <modelDir>`;

/** One stderr line per step change and per 10% within a step (and per download phase and calibration image). */
function stderrSetupProgress(): (p: SetupProgress) => void {
  const print = stderrProgress();
  return (p) => print({
    stage: p.step, fraction: p.fraction, text: `${p.step}: ${p.message}`,
    key: `${p.download?.phase ?? ''}:${p.message.startsWith('calibrating') ? p.message : ''}`, force: p.skipped === true,
  });
}

export const setupCommand: CommandGroup = async (argv) => {
  const args = parseArgs(argv, ['model', 'catalog', 'bits', 'calib', 'out', 'cache-dir', 'stall-timeout', 'file'], ['use-alternative']);
  if (args.positional.length > 0) throw new CliError(`unexpected argument "${args.positional[0]}"; ${usage}`);
  const id = required(args, 'model');
  const out = required(args, 'out');
  const bits = (optional(args, 'bits') ?? 'w8a8') as QuantBits;
  if (!QUANT_BITS.includes(bits)) throw new CliError(`--bits ${bits} is not offered (choose ${QUANT_BITS.join(', ')})`);
  const stallSeconds = integerOption(args, 'stall-timeout', 1, 3600);
  try {
    checkSetupOut(out);
  } catch (err) {
    throw new CliError(`--out ${(err as Error).message}`);
  }
  const catalog = await loadCatalog(optional(args, 'catalog'));
  const calibDir = optional(args, 'calib');
  const localFile = optional(args, 'file');
  // A hub entry's sha256 is read now; its unverified alternative only with --use-alternative.
  const model = await resolveHubModel(findModel(catalog, id), {
    confirmAlternative: (offer) => {
      if (!args.switches.has('use-alternative')) return false;
      const instead = localFile ? `checking ${localFile} against the size of ${offer.url}` : `downloading ${offer.url} instead, checked by its size`;
      process.stderr.write(`setup: ${offer.reason}; ${instead} only (${offer.bytes} bytes)\n`);
      return true;
    },
  });

  const controller = new AbortController();
  const onInterrupt = () => controller.abort();
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);
  try {
    process.stderr.write(`setup: ${model.name} (${model.licence}), ${bits}\n`);
    const result = await runSetup({
      model,
      bits,
      outDir: out,
      cacheDir: resolve(optional(args, 'cache-dir') ?? appCacheDir()),
      ...(calibDir ? { calibDir } : {}),
      ...(localFile ? { localFile } : {}),
      ...(stallSeconds !== undefined ? { stallTimeoutMs: stallSeconds * 1000 } : {}),
      onProgress: stderrSetupProgress(),
      signal: controller.signal,
    });
    process.stderr.write(`setup: mean mask IoU against fp32 ${result.eval.mean_iou.toFixed(4)}; fp32 model kept at ${result.fp32Dir}\n`);
    process.stdout.write(`${result.reportPath}\n`);
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    process.removeListener('SIGTERM', onInterrupt);
  }
};
