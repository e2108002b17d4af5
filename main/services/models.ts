/**
 * The Models page's back end: model directories under the app's data folder (one per model id),
 * importing a checkpoint or an ONNX pair, choosing the active model, quantization jobs with
 * progress and cancel, and their reports.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { checkFolderAbove, dirBytes } from '../base/index.ts';
import { BIT_SETTINGS, DEFAULT_CALIB_COUNT } from '../ptq4sam/index.ts';
import { overallFraction } from '../ptq4sam/estimate.ts';
import { removeStaleTemporaries, temporaryPrefix } from '../base/stale-temporaries.ts';
import type { Project } from '../project/index.ts';
import { importInProcess, quantizeInProcess } from './jobs.ts';
import { readModelInfo, type ModelInfo } from '../sam/model-dir.ts';
import type { EngineStatus, ModelEntry, ModelReport, QuantBits, QuantizeJob } from '../../preload/contract/index.ts';
import { readModelReport } from './report.ts';
import type { Session } from './session.ts';

/**
 * Whether an installed model folder holds what a new build of the same id holds: a readable
 * model.json and each model file at the same size (the id is a hash of the files' contents, so a
 * complete folder of that id has these sizes; hashing gigabytes again would take long).
 */
function sameModelFiles(built: string, installed: string): boolean {
  try {
    readModelInfo(installed);
  } catch {
    return false;
  }
  for (const file of readdirSync(built)) {
    const path = join(installed, file);
    if (file !== 'model.json' && (!existsSync(path) || statSync(path).size !== statSync(join(built, file)).size)) return false;
  }
  return true;
}

/** Links the project's first usable images into `dir` (names kept: the quantizer matches the project's boxes by file name). */
function linkCalibrationImages(project: Project, dir: string, count: number): number {
  mkdirSync(dir, { recursive: true });
  const used = new Set<string>();
  for (const image of project.listImages({ limit: 10_000 }).items) {
    if (used.size >= count) break;
    const file = image.error ? null : project.resolveImagePath(image);
    const name = basename(image.path);
    if (!file || used.has(name)) continue;
    try {
      symlinkSync(file, join(dir, name));
    } catch {
      copyFileSync(file, join(dir, name)); // Windows without the symlink privilege
    }
    used.add(name);
  }
  return used.size;
}

export class ModelService {
  #jobs = new Map<string, AbortController>();
  #nextJob = 1;
  /** the active model's folder whose restore failed (not tried again until a Use or an import) */
  #failedRestore: string | null = null;

  constructor(private readonly s: Session) {}

  #entry(dir: string, info: ModelInfo): ModelEntry {
    const q = info.quantization as { bits?: { w: number; a: number }; precision?: unknown } | undefined;
    // ours name their bits; an imported pair's graphs were read for theirs at import
    const precision = q?.bits ? `w${q.bits.w}a${q.bits.a}` : typeof q?.precision === 'string' ? q.precision : 'fp32';
    return {
      id: info.id, name: info.name, dir, precision, bytes: dirBytes(dir),
      hasReport: existsSync(join(dir, 'report.json')), active: this.s.prefs.get().activeModelId === info.id,
    };
  }

  list(): ModelEntry[] {
    if (!existsSync(this.s.modelsDir)) return [];
    this.#checkModelsFolder();
    const out: ModelEntry[] = [];
    for (const name of readdirSync(this.s.modelsDir)) {
      const dir = join(this.s.modelsDir, name);
      try {
        out.push(this.#entry(dir, readModelInfo(dir)));
      } catch {
        // a partial or foreign folder is not a model (never taken for one)
      }
    }
    return out;
  }

  /** A file where the models folder should be (or above it) is named, not met with ENOTDIR or EEXIST. */
  #checkModelsFolder(): void {
    const dir = this.s.modelsDir;
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`${dir} is a file, not the folder of the models: move it away`);
    try {
      checkFolderAbove(dir);
    } catch (err) {
      throw new Error(`the folder of the models cannot be made: ${(err as Error).message}`);
    }
  }

  #find(modelId: string): ModelEntry {
    const m = this.list().find((x) => x.id === modelId);
    if (!m) throw new Error(`no model with id ${modelId} in ${this.s.modelsDir}`);
    return m;
  }

  /** builds into a temporary folder, then moves it into place under its id (atomic) */
  async #install(build: (tmpDir: string) => Promise<ModelInfo>): Promise<ModelEntry> {
    this.#checkModelsFolder();
    mkdirSync(this.s.modelsDir, { recursive: true });
    // inside modelsDir's parent folder, so the final rename stays on one file system; the
    // leading dot keeps it out of the model list
    // what an instance killed mid-install left behind goes first (named by its process id)
    removeStaleTemporaries(this.s.ctx.appDataDir, '.model-');
    const tmp = mkdtempSync(join(this.s.ctx.appDataDir, temporaryPrefix('.model-')));
    try {
      const info = await build(tmp);
      const dest = join(this.s.modelsDir, info.id);
      if (this.#failedRestore === dest) this.#failedRestore = null;
      if (!existsSync(dest)) renameSync(tmp, dest);
      else if (sameModelFiles(tmp, dest)) rmSync(tmp, { recursive: true, force: true });
      else {
        // the folder of this id is damaged or incomplete (a file cut short, one removed): the
        // fresh build takes its place, the old one moved aside first so the swap is two renames
        if (this.s.sam.modelDir === dest) await this.s.sam.setModel(null);
        const aside = mkdtempSync(join(this.s.ctx.appDataDir, temporaryPrefix('.model-')));
        rmSync(aside, { recursive: true, force: true });
        renameSync(dest, aside);
        renameSync(tmp, dest);
        rmSync(aside, { recursive: true, force: true });
      }
      return this.#entry(dest, readModelInfo(dest));
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  async importCheckpoint(file: string, configPath: string | null, name?: string): Promise<ModelEntry> {
    return this.#install((tmp) => importInProcess({ type: 'checkpoint', file }, tmp, { ...(configPath ? { configPath } : {}), ...(name ? { name } : {}) }));
  }

  async importOnnx(encoder: string, decoder: string, name?: string): Promise<ModelEntry> {
    return this.#install((tmp) => importInProcess({ type: 'onnx', encoder, decoder }, tmp, name ? { name } : {}));
  }

  /** loads the model into the engine, then remembers it as active */
  async setActive(modelId: string): Promise<void> {
    const m = this.#find(modelId);
    this.#failedRestore = null;
    await this.s.sam.setModel(m.dir);
    this.s.prefs.update((p) => { p.activeModelId = modelId; });
  }

  /** loads the remembered active model at start; a failure is shown in the status, not thrown */
  async restoreActive(): Promise<void> {
    const id = this.s.prefs.get().activeModelId;
    // a switch in progress has unloaded the model it replaces: restoring that one would race it
    if (!id || this.s.sam.model || this.s.sam.switching) return;
    const m = this.list().find((x) => x.id === id);
    if (!m) { this.s.sam.problem = `The active model ${id} is missing from ${this.s.modelsDir}; choose one on the Models page.`; return; }
    // a model that failed to load is not loaded again at every status call (a large one takes
    // seconds): a Use or an import of it tries again
    if (this.#failedRestore === m.dir) return;
    await this.s.sam.setModel(m.dir).catch(() => { this.#failedRestore = m.dir; });
  }

  async engineStatus(): Promise<EngineStatus> {
    await this.restoreActive();
    const active = this.s.sam.modelDir ? this.list().find((m) => m.dir === this.s.sam.modelDir) ?? null : null;
    // the folder of the model in use went (removed by hand): it stays loaded, but say so
    const gone = this.s.sam.model && !active ? `The model in use (${this.s.sam.modelDir}) is no longer in ${this.s.modelsDir}: it works until the app restarts; choose one on the Models page.` : null;
    return {
      model: this.s.sam.model ? active : null,
      executionProvider: this.s.sam.executionProvider,
      lastDecoderMs: this.s.sam.lastDecoderMs,
      queued: this.s.sam.queued,
      problem: gone ?? this.s.sam.problem,
    };
  }

  /**
   * Starts PTQ4SAM quantization in the background; progress and the end come as
   * 'quantize-progress' events. Calibration uses the open project's images (and its boxes as
   * prompts), linked into a folder of their own, else the bundled sample photos.
   */
  async quantize(modelId: string, bits: QuantBits, calibCount?: number): Promise<QuantizeJob> {
    const m = this.#find(modelId);
    // its layers are integer kernels already: the job would fail after its start, finding none to quantize
    if (m.precision !== 'fp32') throw new Error(`${m.name} is quantized already (${m.precision}): quantize its fp32 model`);
    const jobId = `q${this.#nextJob++}`;
    const abort = new AbortController();
    this.#jobs.set(jobId, abort);
    const project = this.s.project;
    const linked = join(this.s.ctx.appDataDir, 'cache', 'calibration', jobId);
    rmSync(linked, { recursive: true, force: true });
    const calibDir = project && linkCalibrationImages(project, linked, calibCount ?? DEFAULT_CALIB_COUNT) > 0 ? linked : join(this.s.ctx.resourcesDir, 'samples');
    // the time left is estimated during the calibration passes (estimate.ts) and counted down after
    let estimate: { seconds: number; at: number } | null = null;
    const etaSeconds = () => (estimate ? Math.max(0, estimate.seconds - (performance.now() - estimate.at) / 1000) : null);
    const emit = (phase: string, fraction: number, done = false, error: string | null = null, newId: string | null = null) =>
      this.s.ctx.emit({ type: 'quantize-progress', jobId, phase, fraction, etaSeconds: done ? null : etaSeconds(), done, error, modelId: newId });
    void this.#install((tmp) => quantizeInProcess({
      modelDir: m.dir, calibDir, outDir: tmp, bits: BIT_SETTINGS[bits], method: 'ptq4sam',
      ...(calibCount ? { calibCount } : {}),
      ...(project ? { projectDb: project.dbPath } : {}),
    }, (p) => {
      if (p.etaSeconds !== undefined) estimate = { seconds: p.etaSeconds, at: performance.now() };
      emit(p.phase, overallFraction(p.phase, p.done, p.total));
    }, abort.signal).then(() => readModelInfo(tmp)))
      .then((entry) => emit('done', 1, true, null, entry.id))
      .catch((err: Error) => emit('failed', 0, true, abort.signal.aborted ? 'cancelled' : err.message))
      .finally(() => {
        this.#jobs.delete(jobId);
        rmSync(linked, { recursive: true, force: true });
      });
    return { jobId };
  }

  cancel(jobId: string): void {
    this.#jobs.get(jobId)?.abort();
  }

  report(modelId: string): ModelReport {
    const m = this.#find(modelId);
    return readModelReport(m.dir, m.name);
  }
}
