/**
 * The SAM engine as the UI sees it: status (model, execution provider, last decoder latency),
 * background encoding progress, the hover preview and the prompts of the object being made.
 * Hover requests are coalesced: at most two in flight (one decoding, one waiting), only the
 * latest pending one is kept, and answers that arrive after the prompts changed are dropped; a
 * hover asks for the best mask only, and so does a click, which asks for its other candidates'
 * views (Tab) once the best one is drawn. Clicks never wait for a hover: they are serialized among
 * themselves only, so each one refines with the previous answer (kept in the main process, named by its id: the low-res
 * logits never cross to the window, and neither does a mask at more than display resolution).
 */
import { api, errorMessage } from '../api.ts';
import type { EngineStatus, MaskView, Prediction, SamPrompt } from '../../preload/contract/index.ts';

type Point = { x: number; y: number };
type PointPrompt = SamPrompt['points'][number];

/** hover requests out at once: one decoding, the next waiting in the engine */
const HOVERS_IN_FLIGHT = 2;

export class EngineState {
  status = $state.raw<EngineStatus | null>(null);
  /** image being encoded in the background and how many wait after it */
  encoding = $state.raw<{ imageId: number; queued: number } | null>(null);
  /** images whose embedding is ready in this session */
  ready = $state.raw<ReadonlySet<number>>(new Set());
  lastDecoderMs = $state<number | null>(null);
  error = $state<string | null>(null);
  /** why the image opened last could not be encoded (its file gone, undecodable): the canvas says it */
  openError = $state.raw<{ imageId: number; message: string } | null>(null);

  /** hover preview, shown only while no prompt is placed */
  preview = $state.raw<Prediction | null>(null);
  /** the answer to the placed prompts */
  result = $state.raw<Prediction | null>(null);
  candidate = $state(0);
  points = $state.raw<PointPrompt[]>([]);
  box = $state.raw<[number, number, number, number] | null>(null);
  /** how many predictions have been drawn (for tests and the benchmark) */
  shownCount = $state(0);

  available = $derived(this.status !== null && this.status.model !== null && this.status.problem === null);
  hasPrompt = $derived(this.points.length > 0 || this.box !== null);
  /** every candidate's view of the answer is here (Tab shows them without waiting) */
  candidatesReady = $derived(this.result !== null && this.result.masks.every((m) => m !== null));
  /** the mask on screen: the chosen candidate, else the hover preview */
  shown = $derived<MaskView | null>(
    this.result ? this.result.masks[this.candidate] ?? null : this.hasPrompt ? null : this.preview?.masks[this.preview.best] ?? null,
  );

  #imageId: number | null = null;
  /** counts the projects opened: an answer that comes after another one opened is not this one's */
  #project = 0;
  #generation = 0;
  #hoversInFlight = 0;
  #hoverSent = 0;
  #hoverShown = 0;
  #hoverNext: { imageId: number; at: Point } | null = null;
  #clicks: Promise<void> = Promise.resolve();
  /** the other candidates' views of the latest click, asked for once its best one was drawn */
  #views: Promise<void> = Promise.resolve();

  async refreshStatus(): Promise<void> {
    try {
      this.status = await api.engineStatus();
      if (this.status.lastDecoderMs !== null) this.lastDecoderMs = this.status.lastDecoderMs;
    } catch (err) {
      this.error = errorMessage(err);
    }
  }

  /** another project is open: its image ids name other images, whose embeddings are not ready */
  forgetImages(): void {
    this.#project++;
    this.#imageId = null;
    this.clear();
    this.preview = null;
    this.ready = new Set();
    this.error = null;
    this.openError = null;
  }

  /** a new image: forget prompts, encode it first, then the ones after it */
  async openImage(imageId: number | null, upcoming: number[]): Promise<void> {
    this.#imageId = imageId;
    this.clear();
    this.preview = null;
    this.error = null;
    this.openError = null;
    if (imageId === null || !this.available) return;
    this.encoding = { imageId, queued: upcoming.length };
    const project = this.#project;
    try {
      await api.samEncode({ imageId });
      // an answer for the last project's image: the id names another image here
      if (project === this.#project) this.ready = new Set([...this.ready, imageId]);
    } catch (err) {
      if (this.#imageId === imageId) {
        this.error = errorMessage(err);
        this.openError = { imageId, message: this.error };
      }
    } finally {
      if (this.encoding?.imageId === imageId) this.encoding = null;
    }
    if (this.#imageId === imageId && upcoming.length) void api.samPrefetch({ imageIds: upcoming }).catch(() => undefined);
  }

  onEncodeProgress(e: { imageId: number; queued: number; done: boolean; error: string | null }): void {
    if (e.done && !e.error) this.ready = new Set([...this.ready, e.imageId]);
    this.encoding = e.done ? (e.queued > 0 ? this.encoding : null) : { imageId: e.imageId, queued: e.queued };
  }

  hover(imageId: number, at: Point): void {
    if (!this.available || this.hasPrompt) return;
    this.#hoverNext = { imageId, at };
    this.#sendHovers();
  }

  /**
   * Sends the latest hover position while fewer than HOVERS_IN_FLIGHT are out: the engine decodes
   * the next one while this window takes the answer before it, so previews come as fast as the
   * decoder gives them. A click drops the one waiting in the engine, never the one running.
   */
  #sendHovers(): void {
    while (this.#hoverNext && this.#hoversInFlight < HOVERS_IN_FLIGHT) {
      const { imageId, at } = this.#hoverNext;
      this.#hoverNext = null;
      const generation = this.#generation;
      const sequence = ++this.#hoverSent;
      this.#hoversInFlight++;
      void api.samPredict({ imageId, prompt: { points: [{ x: at.x, y: at.y, label: 1 }] }, preview: true }).then((r) => {
        // no masks: the engine dropped it for a click; an answer older than the one shown is stale
        if (r.masks.length === 0 || sequence < this.#hoverShown) return;
        if (generation === this.#generation && imageId === this.#imageId && !this.hasPrompt) {
          this.#hoverShown = sequence;
          this.preview = r;
          this.#shown(r);
        }
      }, (err) => { this.error = errorMessage(err); }).finally(() => {
        this.#hoversInFlight--;
        this.#sendHovers();
      });
    }
  }

  #shown(r: Prediction): void {
    this.lastDecoderMs = r.decoderMs;
    this.shownCount++;
  }

  /** left click: positive; right or Shift-click: negative */
  click(imageId: number, at: Point, label: 0 | 1): Promise<void> {
    this.points = [...this.points, { x: at.x, y: at.y, label }];
    return this.#predict(imageId);
  }

  setBox(imageId: number, box: [number, number, number, number]): Promise<void> {
    this.box = box;
    return this.#predict(imageId);
  }

  /** Ctrl+Z or Backspace while prompting: takes back the last point, then the box; returns whether any prompt is left */
  removeLastPrompt(imageId: number): boolean {
    if (this.points.length > 0) this.points = this.points.slice(0, -1);
    else this.box = null;
    if (!this.hasPrompt) { this.clear(); return false; }
    // the answers so far were refined with the prompt taken back: ask again without them
    this.result = null;
    this.candidate = 0;
    void this.#predict(imageId);
    return true;
  }

  #predict(imageId: number): Promise<void> {
    const generation = ++this.#generation;
    this.preview = null;
    this.error = null;
    this.#clicks = this.#clicks.then(async () => {
      if (generation !== this.#generation) return; // a later click will ask with all points
      const prompt: SamPrompt = { points: this.points };
      if (this.box) prompt.box = this.box;
      // refinement: the previous answer's low-res logits of the chosen candidate
      if (this.result) prompt.refine = { resultId: this.result.resultId, candidate: this.candidate };
      try {
        // the best candidate's view only: the others (Tab) come right after it is drawn
        const r = await api.samPredict({ imageId, prompt, candidates: 'best' });
        if (generation !== this.#generation) return;
        this.result = r;
        this.candidate = r.best;
        this.#shown(r);
        this.#views = this.#otherViews(imageId, r);
      } catch (err) {
        this.error = errorMessage(err);
      }
    });
    return this.#clicks;
  }

  async #otherViews(imageId: number, r: Prediction): Promise<void> {
    if (r.masks.every((m) => m !== null)) return;
    try {
      const masks = await api.samCandidateViews({ imageId, resultId: r.resultId });
      if (this.result?.resultId === r.resultId) this.result = { ...this.result, masks };
    } catch (err) {
      // an answer the window has moved on from (a new click, another image) is no error to show
      if (this.result?.resultId === r.resultId) this.error = errorMessage(err);
    }
  }

  /** Tab: the next candidate mask (once the candidates' views are here) */
  async cycle(): Promise<void> {
    await this.#views;
    const n = this.result?.masks.length ?? 0;
    if (n > 0) this.candidate = (this.candidate + 1) % n;
  }

  /** waits for pending clicks, then hands out what Enter accepts: an answer kept in the main process and its candidate */
  async take(): Promise<{ resultId: number; candidate: number } | null> {
    await this.#clicks;
    await this.#views;
    const r = this.result;
    const mask = r?.masks[this.candidate];
    if (!r || !mask || mask.width === 0) return null;
    const taken = { resultId: r.resultId, candidate: this.candidate };
    this.clear();
    return taken;
  }

  clear(): void {
    this.#generation++;
    this.points = [];
    this.box = null;
    this.result = null;
    this.candidate = 0;
    this.#hoverNext = null;
  }
}
