/**
 * The first-run wizard's back end (issue 6) over main/sam/setup.ts's `runSetup`: catalog ->
 * download (or the user's own copy) -> build -> quantize -> eval -> activate, in the background
 * with 'setup-progress' events and cancel. What was asked and which steps finished are kept in
 * the app preferences, and runSetup keeps its own resumable state in the app's cache, so a
 * restart resumes where it stopped (a half-done download continues with a Range request).
 * Calibration uses the open project's images, or the bundled samples when only the sample
 * project is open. When the hub cannot give a hub entry's sha256 and the entry names an
 * alternative URL, the run waits for the user's answer to a 'setup-alternative' offer
 * (setupAnswerAlternative): declined, the setup ends with the hub's reason; accepted, the
 * alternative is downloaded and checked by its size.
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { findModel, loadCatalog, preferredModel, speedClass, type CatalogModel } from '../setup/catalog.ts';
import { resolveHubModel, type AlternativeOffer } from '../setup/hub.ts';
import { isModelDir, readModelInfo } from '../sam/model-dir.ts';
import { fp32DirFor, SETUP_STEPS, SetupError, type SetupProgress } from '../setup/pipeline.ts';
import { setupInProcess } from './jobs.ts';
import type { CatalogEntry, SetupAlternativeOffer, SetupChoice, SetupDownload, SetupState, SetupStep } from '../../preload/contract/index.ts';
import type { ModelService } from './models.ts';
import type { Session } from './session.ts';
import { withAtomicDir } from '../base/index.ts';

function downloadOf(p: SetupProgress): SetupDownload | null {
  const d = p.download;
  return d ? { receivedBytes: d.receivedBytes, totalBytes: d.totalBytes ?? null, bytesPerSecond: d.bytesPerSecond, etaSeconds: d.etaSeconds ?? null } : null;
}

export class SetupService {
  #abort: AbortController | null = null;
  #error: string | null = null;
  /** the offer the running setup waits on, and how to answer it */
  #offer: { offer: SetupAlternativeOffer; answer(accept: boolean): void } | null = null;
  #offers = 0;

  constructor(private readonly s: Session, private readonly models: ModelService) {}

  get #cacheDir(): string { return join(this.s.ctx.appDataDir, 'cache'); }

  /** a catalog given in the preferences (file or URL), else the bundled one */
  get #catalogSource(): string { return this.s.prefs.get().catalog ?? join(this.s.ctx.resourcesDir, 'catalog.json'); }

  state(): SetupState {
    const p = this.s.prefs.get().setup;
    return { done: p.done as SetupStep[], choice: p.choice ?? null, modelId: p.modelId, running: this.#abort !== null, error: this.#error, skipped: p.skipped, offer: this.#offer?.offer ?? null };
  }

  async catalog(): Promise<CatalogEntry[]> {
    const c = await loadCatalog(this.#catalogSource);
    const preferred = preferredModel(c);
    return c.models.map((m) => ({
      id: m.id, name: m.name, bytes: m.bytes, licence: m.licence, format: m.format,
      speed: m.speed ? { ...m.speed, speedClass: speedClass(m.speed) } : null,
      preferred: m === preferred,
    }));
  }

  /** Starts (or resumes) a setup; returns at once, the run reports through events. */
  async run(choice: SetupChoice): Promise<SetupState> {
    if (this.#abort) throw new Error('setup is already running');
    const model = findModel(await loadCatalog(this.#catalogSource), choice.catalogId);
    const same = JSON.stringify(this.s.prefs.get().setup.choice) === JSON.stringify(choice);
    this.s.prefs.update((p) => {
      p.setup = { ...p.setup, choice, done: same ? p.setup.done : [], modelId: null, skipped: false };
    });
    const abort = new AbortController();
    this.#abort = abort;
    this.#error = null;
    void this.#run(model, choice, abort.signal)
      .then((modelId) => {
        this.s.prefs.update((p) => { p.setup.done = [...SETUP_STEPS]; p.setup.modelId = modelId; });
        this.#emit({ step: 'activate', fraction: 1, message: 'ready' }, { done: true, modelId });
      })
      .catch((err: Error) => {
        this.#error = abort.signal.aborted ? 'cancelled' : err.message;
        const step = err instanceof SetupError ? err.step : this.#current();
        this.#emit({ step, fraction: 0, message: this.#error }, { done: true, error: this.#error });
      })
      .finally(() => { this.#abort = null; });
    return this.state();
  }

  #current(): SetupStep {
    const done = this.s.prefs.get().setup.done;
    return SETUP_STEPS.find((x) => !done.includes(x)) ?? 'activate';
  }

  #emit(p: SetupProgress, end: { done?: boolean; error?: string; modelId?: string } = {}): void {
    this.s.ctx.emit({
      type: 'setup-progress', step: p.step, fraction: p.fraction, message: p.message, download: downloadOf(p), skipped: p.skipped ?? false,
      done: end.done ?? false, error: end.error ?? null, modelId: end.modelId ?? null,
    });
  }

  /** progress on a step means the steps before it are done (and a skipped step is done too) */
  #progress(p: SetupProgress): void {
    const upTo = SETUP_STEPS.indexOf(p.step) + (p.skipped ? 1 : 0);
    const done = SETUP_STEPS.slice(0, upTo);
    if (done.length > this.s.prefs.get().setup.done.length) this.s.prefs.update((x) => { x.setup.done = done; });
    this.#emit(p);
  }

  async #run(entry: CatalogModel, choice: SetupChoice, signal: AbortSignal): Promise<string> {
    const quantize = choice.quantize ?? true;
    const outDir = join(this.s.modelsDir, `${entry.id}-${quantize ? choice.bits : 'fp32'}`);
    // a finished run whose activation was cut short (or the same model set up again): use it
    if (isModelDir(outDir)) return this.#activate(outDir);
    // A hub entry's sha256 is read before anything is downloaded; its unverified alternative
    // only with the user's answer.
    if (entry.hub) this.#progress({ step: 'download', fraction: 0, message: 'reading the file\'s sha256 from the model hub' });
    const model = await resolveHubModel(entry, { signal, confirmAlternative: (offer) => this.#ask(offer, signal) });
    const project = this.s.project && !this.s.isSample() ? this.s.project.dbPath : undefined;
    // without quantization the run stops once the quantize step starts: the fp32 model is built
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    try {
      // in a child process: the quantize step would otherwise hold up every call of the window
      await setupInProcess({
        model, bits: choice.bits, outDir, cacheDir: this.#cacheDir,
        samplesDir: join(this.s.ctx.resourcesDir, 'samples'),
        ...(choice.localFile ? { localFile: choice.localFile } : {}),
        ...(project ? { projectDb: project } : {}),
      }, (p) => {
        if (!quantize && p.step === 'quantize') { stop.abort(); return; }
        this.#progress(p);
      }, both);
      return await this.#activate(outDir);
    } catch (err) {
      if (quantize || signal.aborted || !stop.signal.aborted) throw err;
    }
    return this.#installFp32(model, outDir);
  }

  /** the built fp32 model, copied from the cache into the models folder and made active */
  async #installFp32(model: CatalogModel, outDir: string): Promise<string> {
    await withAtomicDir(outDir, async (tmp) => cpSync(fp32DirFor(this.#cacheDir, model), tmp, { recursive: true }), { replace: true });
    for (const step of ['quantize', 'eval'] as const) this.#progress({ step, fraction: 1, message: 'skipped: full precision chosen', skipped: true });
    return this.#activate(outDir);
  }

  async #activate(dir: string): Promise<string> {
    const id = readModelInfo(dir).id;
    await this.models.setActive(id);
    return id;
  }

  /** Tells the window about the offer and waits for its answer; a cancel answers no. */
  #ask(offer: AlternativeOffer, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal.aborted) { resolve(false); return; }
      const pending: SetupAlternativeOffer = { offerId: ++this.#offers, ...offer };
      const answer = (accept: boolean) => {
        if (this.#offer?.offer !== pending) return;
        this.#offer = null;
        signal.removeEventListener('abort', onAbort);
        resolve(accept);
      };
      const onAbort = () => answer(false);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#offer = { offer: pending, answer };
      this.s.ctx.emit({ type: 'setup-alternative', offer: pending });
    });
  }

  answerAlternative(offerId: number, accept: boolean): SetupState {
    const waiting = this.#offer;
    if (!waiting || waiting.offer.offerId !== offerId) {
      throw new Error(waiting ? `offer ${offerId} was replaced by offer ${waiting.offer.offerId}` : `no setup waits for an answer to offer ${offerId}`);
    }
    waiting.answer(accept);
    return this.state();
  }

  cancel(): void { this.#abort?.abort(); }

  skip(): SetupState {
    this.s.prefs.update((p) => { p.setup.skipped = true; });
    return this.state();
  }
}
