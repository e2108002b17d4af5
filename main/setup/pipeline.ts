/**
 * main/setup: getting a model onto the user's machine — the model catalog (catalog.ts), verified
 * resumable downloads (download/), and this first-run pipeline that drives main/sam's builders
 * and main/ptq4sam's quantizer. It sits above sam, ptq4sam and project and below the services;
 * tests in tests/setup/ and tests/download/.
 *
 * First-run setup as a service: download a catalog model (or take a local copy of it) -> build
 * the fp32 model directory -> quantize it with PTQ4SAM, calibrated on the user's images (a folder
 * or an open project) or else on the bundled sample photos, a fifth of which (at most 4) are held
 * out (splitImages) -> evaluate against fp32 on the held-out images -> place the
 * quantized model at `outDir` and make it active. Progress events per step, cancel through an
 * AbortSignal, and every step resumable: a rerun with the same arguments skips finished steps and
 * resumes a half-done download.
 *
 * Where things live (all re-creatable, so under the app's cache directory):
 *   <cache>/downloads/                  partial files (.part + .part.json) and finished downloads
 *   <cache>/models/<id>-<md5/sha 6>-fp32/ the fp32 model directory, shared by every bit width
 *   <cache>/setup/<key>/                state.json and the quantized model until it is placed
 * `outDir` appears only at the end, complete; a failure leaves no model directory behind.
 * The downloaded checkpoint is deleted once the fp32 model is built (it is as large as the model).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CatalogFile, CatalogModel } from './catalog.ts';
import { describeProgress, downloadFile, downloadsDir, type DownloadProgress } from './download/index.ts';
import { hashFile } from './download/hash.ts';
import { importModel, isModelDir } from '../sam/model-dir.ts';
import { evaluate, quantizeModelDir, spread, type EvalResult, type QuantReport } from '../ptq4sam/index.ts';
import { overallFraction } from '../ptq4sam/estimate.ts';
import { formatDuration } from '../../preload/contract/duration.ts';
import { projectImagePaths } from '../project/index.ts';
import { isImageFile, listImageFiles, moveDir, withAtomicDir, writeFileAtomic } from '../base/index.ts';
import { BIT_SETTINGS, QUANT_BITS, SETUP_STEPS, type QuantBits, type SetupStep } from '../../preload/contract/enums.ts';

export { SETUP_STEPS, type SetupStep };

export interface SetupProgress {
  step: SetupStep;
  /** 0..1 within the step */
  fraction: number;
  /** one line for a person, e.g. "downloading 45% 170.2 MB / 375.0 MB, 12.1 MB/s, 17 s left" */
  message: string;
  /** the downloader's numbers during the download step */
  download?: DownloadProgress;
  /** the step was already done in an earlier run and is skipped */
  skipped?: boolean;
}

export interface SetupOptions {
  model: CatalogModel;
  /** a local copy of the model's file (checked against the catalog's hash) instead of downloading */
  localFile?: string;
  bits?: QuantBits;
  /** the user's images for calibration */
  calibDir?: string;
  /** an open project: its images calibrate (when no calibDir) and its boxes become prompts */
  projectDb?: string;
  /** fallback calibration images, default resources/samples */
  samplesDir?: string;
  /** the quantized model directory to create; refused if it exists and is not empty */
  outDir: string;
  cacheDir: string;
  stallTimeoutMs?: number;
  /** environment for proxy settings, default process.env */
  env?: NodeJS.ProcessEnv;
  onProgress?: (p: SetupProgress) => void;
  signal?: AbortSignal;
  /** the app's "make it the active model"; the command line has none */
  activate?: (modelDir: string) => Promise<void> | void;
}

export interface SetupResult {
  modelDir: string;
  reportPath: string;
  evalPath: string;
  fp32Dir: string;
  report: QuantReport;
  eval: EvalResult;
  /** steps this run skipped because an earlier run finished them */
  skipped: SetupStep[];
}

interface SetupState {
  format: 1;
  args: Record<string, string | null>;
  done: SetupStep[];
}

export const bundledSamplesDir = fileURLToPath(new URL('../../resources/samples', import.meta.url));
const evalImages = 4;
const projectCalibImages = 32;

/** A failed step: the message is the cause's own (it names the file or URL and the problem). */
export class SetupError extends Error {
  constructor(
    readonly step: SetupStep,
    message: string,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'SetupError';
  }
}

function inStep(step: SetupStep, err: unknown): SetupError {
  if (err instanceof SetupError) return err;
  return new SetupError(step, err instanceof Error ? err.message : String(err), { cause: err });
}

/** Refuses an existing non-empty output directory before anything else happens. */
export function checkSetupOut(outDir: string): string {
  const abs = resolve(outDir);
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) throw new Error(`${outDir} exists and is not a directory`);
    if (readdirSync(abs).length > 0) throw new Error(`${outDir} exists and is not empty`);
  }
  return abs;
}

function modelKey(model: CatalogModel): string {
  return `${model.id}-${model.files[0]!.expected.digest.slice(0, 6)}`;
}

/** The fp32 model directory a catalog model builds into. */
export function fp32DirFor(cacheDir: string, model: CatalogModel): string {
  return join(cacheDir, 'models', `${modelKey(model)}-fp32`);
}

function throwIfCancelled(signal: AbortSignal | undefined, step: SetupStep): void {
  if (signal?.aborted) throw new SetupError(step, `setup cancelled during ${step}`);
}

/** Links the first images of a project into `dir` (names kept: the quantizer matches boxes by name). */
function linkProjectImages(projectDb: string, dir: string): void {
  const paths = projectImagePaths(projectDb);
  mkdirSync(dir, { recursive: true });
  const used = new Set<string>();
  for (const path of paths) {
    if (used.size >= projectCalibImages) break;
    const name = basename(path);
    if (used.has(name) || !isImageFile(name) || !existsSync(path)) continue;
    try {
      symlinkSync(path, join(dir, name));
    } catch {
      copyFileSync(path, join(dir, name)); // Windows without the symlink privilege
    }
    used.add(name);
  }
}

class SetupRun {
  readonly staging: string;
  readonly statePath: string;
  readonly quantDir: string;
  readonly fp32Dir: string;
  readonly downloadDir: string;
  readonly bits: QuantBits;
  readonly outDir: string;
  private state: SetupState;
  readonly skipped: SetupStep[] = [];
  /** the quantizer's own comparison with fp32 in this run, and its images: the eval step's, when they are the same */
  measured: { result: EvalResult; images: string[] } | null = null;

  constructor(private readonly o: SetupOptions) {
    this.bits = o.bits ?? 'w8a8';
    if (!QUANT_BITS.includes(this.bits)) throw new Error(`bits "${this.bits}" is not offered (choose ${QUANT_BITS.join(', ')})`);
    this.outDir = checkSetupOut(o.outDir);
    const args: Record<string, string | null> = {
      model: o.model.id,
      digest: o.model.files.map((f) => f.expected.digest).join(','),
      bits: this.bits,
      calib: o.calibDir ? resolve(o.calibDir) : null,
      project: o.projectDb ? resolve(o.projectDb) : null,
      out: this.outDir,
    };
    const key = createHash('sha256').update(JSON.stringify(args)).digest('hex').slice(0, 16);
    this.staging = join(o.cacheDir, 'setup', `${o.model.id}-${this.bits}-${key}`);
    this.statePath = join(this.staging, 'state.json');
    this.quantDir = join(this.staging, 'quantized');
    this.fp32Dir = fp32DirFor(o.cacheDir, o.model);
    this.downloadDir = join(downloadsDir(o.cacheDir), modelKey(o.model));
    this.state = this.readState(args);
  }

  private readState(args: SetupState['args']): SetupState {
    try {
      const saved = JSON.parse(readFileSync(this.statePath, 'utf8')) as SetupState;
      if (saved.format === 1 && JSON.stringify(saved.args) === JSON.stringify(args) && Array.isArray(saved.done)) return saved;
    } catch {
      // no state yet (or unreadable): start from the beginning
    }
    return { format: 1, args, done: [] };
  }

  isDone(step: SetupStep): boolean {
    return this.state.done.includes(step);
  }

  markDone(step: SetupStep): void {
    if (!this.state.done.includes(step)) this.state.done.push(step);
    mkdirSync(this.staging, { recursive: true });
    writeFileAtomic(this.statePath, `${JSON.stringify(this.state, null, 1)}\n`);
  }

  progress(p: SetupProgress): void {
    this.o.onProgress?.(p);
  }

  skip(step: SetupStep, why: string): void {
    this.skipped.push(step);
    this.progress({ step, fraction: 1, message: why, skipped: true });
  }

  /** What the build reads: the local file, the downloaded checkpoint, or the folder of an ONNX pair. */
  importSource(): string {
    if (this.o.localFile) return resolve(this.o.localFile);
    return this.o.model.format === 'pth' ? this.downloadedPaths()[0]! : this.downloadDir;
  }

  /** Where each file is downloaded to, each proven to be a file directly in the download folder. */
  downloadedPaths(): string[] {
    return this.o.model.files.map((f) => {
      const name = f.role === 'checkpoint' ? f.fileName : `${f.role}.onnx`;
      const path = resolve(this.downloadDir, name);
      if (dirname(path) !== resolve(this.downloadDir) || basename(path) !== name) {
        throw new SetupError('download', `${this.o.model.id}: the file name ${JSON.stringify(name)} would leave the download folder ${this.downloadDir}`);
      }
      return path;
    });
  }
}

async function stepDownload(run: SetupRun, o: SetupOptions): Promise<void> {
  const paths = run.downloadedPaths();
  if (isModelDir(run.fp32Dir)) return run.skip('download', `not needed, ${run.fp32Dir} is built`);
  if (o.localFile) return checkLocalFile(run, o);
  const model = o.model;
  // a file already in the cache is trusted only after its hash is checked again: the cache
  // folder is writable by anything running as the user, and a crash may have left it short
  const verified: boolean[] = [];
  for (const [i, file] of model.files.entries()) verified.push(await hasExpected(paths[i]!, file, o.signal));
  if (verified.every(Boolean)) return run.skip('download', 'already downloaded and verified');
  for (const [i, file] of model.files.entries()) {
    const dest = paths[i]!;
    if (verified[i]) continue;
    rmSync(dest, { force: true });
    const label = model.files.length > 1 ? `${file.role} ` : '';
    await downloadFile({
      url: file.url,
      expected: file.expected,
      dest,
      cacheDir: downloadsDir(o.cacheDir),
      bytes: Math.ceil(model.bytes / model.files.length),
      ...(file.sizeOnly !== undefined ? { sizeOnly: file.sizeOnly } : {}),
      stallTimeoutMs: o.stallTimeoutMs,
      signal: o.signal,
      env: o.env,
      onProgress: (p) => run.progress({
        step: 'download',
        fraction: p.totalBytes ? p.receivedBytes / p.totalBytes : 0,
        message: `${label}${describeProgress(p)}`,
        download: p,
      }),
    });
  }
  run.markDone('download');
}

/** A size-checked alternative (hub.ts) has no digest: its size is the whole check, as when it was downloaded. */
async function hasExpected(path: string, file: CatalogFile, signal: AbortSignal | undefined): Promise<boolean> {
  if (!existsSync(path) || !statSync(path).isFile()) return false;
  if (file.sizeOnly !== undefined) return statSync(path).size === file.sizeOnly;
  return (await hashFile(path, file.expected.algorithm, signal)) === file.expected.digest;
}

/** A user's own copy of a catalog model: checked against the catalog's hash (a confirmed alternative's: its size) and built from in place. */
async function checkLocalFile(run: SetupRun, o: SetupOptions): Promise<void> {
  const file = o.model.files[0]!;
  if (o.model.format !== 'pth') throw new SetupError('download', `${o.model.id} is an ONNX pair: import its folder with "model import" instead of --file`);
  if (!existsSync(o.localFile!)) throw new SetupError('download', `${o.localFile}: no such file`);
  if (!statSync(o.localFile!).isFile()) throw new SetupError('download', `${o.localFile}: not a file (the model's checkpoint file is expected)`);
  run.progress({ step: 'download', fraction: 0, message: `checking ${o.localFile}` });
  if (file.sizeOnly !== undefined) {
    const size = statSync(o.localFile!).size;
    if (size !== file.sizeOnly) {
      throw new SetupError('download', `${o.localFile}: ${size} bytes, but ${o.model.id}'s file ${file.url} is ${file.sizeOnly} bytes (its size is the only check: it publishes no checksum)`);
    }
    run.markDone('download');
    return;
  }
  const digest = await hashFile(o.localFile!, file.expected.algorithm, o.signal);
  if (digest !== file.expected.digest) {
    throw new SetupError('download', `${o.localFile}: ${file.expected.algorithm} ${digest} does not match the catalog's ${file.expected.digest} for ${o.model.id}`);
  }
  run.markDone('download');
}

async function stepBuild(run: SetupRun, o: SetupOptions): Promise<void> {
  if (isModelDir(run.fp32Dir)) {
    run.markDone('build');
    return run.skip('build', `${run.fp32Dir} is already built`);
  }
  let configPath: string | undefined;
  if (o.model.config) {
    configPath = join(run.staging, 'config.json');
    mkdirSync(run.staging, { recursive: true });
    writeFileSync(configPath, `${JSON.stringify(o.model.config, null, 1)}\n`);
  }
  // a partial folder of an earlier, interrupted build is replaced
  await withAtomicDir(run.fp32Dir, (tmp) => importModel(run.importSource(), tmp, {
    ...(configPath ? { configPath } : {}),
    licence: o.model.licence,
    name: o.model.name,
    signal: o.signal,
    onProgress: (stage, done, total) => run.progress({ step: 'build', fraction: total > 0 ? done / total : 0, message: `${stage} ${total > 0 ? Math.floor((100 * done) / total) : 0}%` }),
  }), { replace: true });
  // the downloaded checkpoint is as large as the model built from it (a user's own file stays)
  rmSync(run.downloadDir, { recursive: true, force: true });
  run.markDone('build');
}

/** The calibration images: the user's folder, else an open project's images, else the samples. */
function calibrationDir(run: SetupRun, o: SetupOptions): { dir: string; from: 'user' | 'project' | 'samples' } {
  if (o.calibDir) {
    listImageFiles(o.calibDir);
    return { dir: o.calibDir, from: 'user' };
  }
  if (o.projectDb) {
    const dir = join(run.staging, 'calib');
    rmSync(dir, { recursive: true, force: true });
    linkProjectImages(o.projectDb, dir);
    if (readdirSync(dir).length > 0) return { dir, from: 'project' };
  }
  return { dir: o.samplesDir ?? bundledSamplesDir, from: 'samples' };
}

/** The available images, split: the comparison with fp32 never judges on a calibration image. */
interface ImageSplit { dir: string; from: 'user' | 'project' | 'samples'; calibration: string[]; heldOut: string[] }

/**
 * Holds out a fifth of the available images (at least one when there are two or more, at most
 * `evalImages`), spread over the sorted list, for the comparison step and the report; the rest
 * calibrate (a single image can only do both, and the comparison then says so).
 */
export function splitImages(files: string[]): { calibration: string[]; heldOut: string[] } {
  const count = files.length < 2 ? 0 : Math.min(evalImages, Math.max(1, Math.floor(files.length / 5)));
  const heldOut = spread(files, count);
  return { calibration: files.filter((f) => !heldOut.includes(f)), heldOut };
}

function imageSplit(run: SetupRun, o: SetupOptions): ImageSplit {
  const calib = calibrationDir(run, o);
  return { ...calib, ...splitImages(listImageFiles(calib.dir)) };
}

function describeSplit(split: ImageSplit): string {
  const from = split.from === 'samples' ? 'the sample images' : split.dir;
  const held = split.heldOut.length ? `, holding out ${split.heldOut.map((f) => basename(f)).join(', ')} for the comparison` : ' (one image: nothing to hold out)';
  return `calibrating on ${split.calibration.length} image${split.calibration.length === 1 ? '' : 's'} of ${from}${held}`;
}

async function stepQuantize(run: SetupRun, o: SetupOptions, split: () => ImageSplit): Promise<void> {
  if (run.isDone('quantize') && isModelDir(run.quantDir)) return run.skip('quantize', 'already quantized');
  // announced before the images are listed: a full-precision setup stops at this event
  run.progress({ step: 'quantize', fraction: 0, message: 'choosing calibration images' });
  const images = split();
  rmSync(run.quantDir, { recursive: true, force: true });
  mkdirSync(run.quantDir, { recursive: true });
  run.progress({ step: 'quantize', fraction: 0, message: describeSplit(images) });
  await quantizeModelDir({
    modelDir: run.fp32Dir,
    calibDir: images.dir,
    calibFiles: images.calibration,
    measureFiles: images.heldOut,
    outDir: run.quantDir,
    bits: BIT_SETTINGS[run.bits],
    method: 'ptq4sam',
    ...(o.projectDb ? { projectDb: o.projectDb } : {}),
    onMeasured: (result, images) => { run.measured = { result, images }; },
    onProgress: (p) => run.progress({ step: 'quantize', fraction: overallFraction(p.phase, p.done, p.total), message: `${p.phase} ${p.done}/${p.total}${p.etaSeconds !== undefined ? `, ${formatDuration(p.etaSeconds)} left` : ''}` }),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  run.markDone('quantize');
}

async function stepEval(run: SetupRun, split: () => ImageSplit): Promise<EvalResult> {
  const evalPath = join(run.quantDir, 'eval.json');
  if (run.isDone('eval') && existsSync(evalPath)) {
    run.skip('eval', 'already evaluated');
    return JSON.parse(readFileSync(evalPath, 'utf8')) as EvalResult;
  }
  const { calibration, heldOut } = split();
  const images = heldOut.length ? heldOut : calibration.slice(0, evalImages);
  const which = heldOut.length ? `${images.length} held-out image${images.length === 1 ? '' : 's'} (${images.map((f) => basename(f)).join(', ')})` : 'the calibration image (the only one given: not a held-out measurement)';
  run.progress({ step: 'eval', fraction: 0, message: `comparing with fp32 on ${which}` });
  // the quantizer compared the same images with the same prompts for its report: encoding them
  // with both models again (about 20 s an image for ViT-B here) would give the same numbers
  const same = run.measured && run.measured.images.length === images.length && run.measured.images.every((f, i) => resolve(f) === resolve(images[i]!));
  const result = same ? run.measured!.result : await evaluate(run.quantDir, run.fp32Dir, images);
  writeFileSync(evalPath, `${JSON.stringify(result, null, 2)}\n`);
  run.progress({ step: 'eval', fraction: 1, message: `mean mask IoU against fp32 ${result.mean_iou.toFixed(4)} over ${result.prompts} prompts on ${which}` });
  run.markDone('eval');
  return result;
}

/** Runs (or resumes) the whole setup. */
export async function runSetup(o: SetupOptions): Promise<SetupResult> {
  const run = new SetupRun(o);
  let images: ImageSplit | undefined;
  const split = () => (images ??= imageSplit(run, o));
  let evalResult: EvalResult | undefined;
  let report: QuantReport | undefined;
  const steps: Record<SetupStep, () => Promise<unknown>> = {
    download: () => stepDownload(run, o),
    build: () => stepBuild(run, o),
    quantize: () => stepQuantize(run, o, split),
    eval: async () => {
      evalResult = await stepEval(run, split);
    },
    activate: async () => {
      report = JSON.parse(readFileSync(join(run.quantDir, 'report.json'), 'utf8')) as QuantReport;
      checkSetupOut(run.outDir);
      moveDir(run.quantDir, run.outDir);
      await o.activate?.(run.outDir);
      run.progress({ step: 'activate', fraction: 1, message: `${run.outDir} is ready` });
    },
  };
  for (const step of SETUP_STEPS) {
    try {
      throwIfCancelled(o.signal, step);
      await steps[step]();
    } catch (err) {
      throw inStep(step, err);
    }
  }
  rmSync(run.staging, { recursive: true, force: true });
  return {
    modelDir: run.outDir,
    reportPath: join(run.outDir, 'report.json'),
    evalPath: join(run.outDir, 'eval.json'),
    fp32Dir: run.fp32Dir,
    report: report!,
    eval: evalResult!,
    skipped: run.skipped,
  };
}
