/**
 * "Segment everything" in the window: the automatic mask generator's proposals for the current
 * image (views; the main process keeps the full masks), the minimum score the slider sets, and
 * which proposals were accepted already. Accepting goes through AnnotationsState, one undo step
 * per acceptance; a proposal is hidden while an annotation its acceptance made is stored, so
 * undoing the acceptance shows it again.
 */
import { api, withErrorOn } from '../api.ts';
import { JOB_CANCELLED, type Proposal, type ProposalSet } from '../../preload/contract/index.ts';

type Point = { x: number; y: number };

/**
 * The window asks for proposals down to this predicted IoU, so that the slider can go below the
 * generator's default (SAM 0.88, SAM 2.1 0.8); lower would run the full decoder for most grid points.
 */
const ASKED_MIN_SCORE = 0.7;
/** SAM's generator threshold, where the slider starts before a set tells the model's own */
const SAM_MIN_SCORE = 0.88;

export class ProposalsState {
  set = $state.raw<ProposalSet | null>(null);
  /** proposals scoring below this are hidden; starts at the model's generator threshold and keeps where the user moved it */
  minScore = $state(SAM_MIN_SCORE);
  /** the threshold of the model that gave the last set */
  #defaultMinScore = SAM_MIN_SCORE;
  /** each acceptance: the proposals it named and the annotations it made (fewer where a proposal was empty) */
  #acceptances = $state.raw<{ indices: number[]; annotationIds: number[] }[]>([]);
  /** the proposals accepted and not undone */
  accepted = $derived.by<ReadonlySet<number>>(() => {
    const stored = this.storedIds();
    return new Set(this.#acceptances.filter((a) => a.annotationIds.some((id) => stored.has(id))).flatMap((a) => a.indices));
  });
  busy = $state(false);
  /** grid points decoded of all, while a run is busy */
  progress = $state.raw<{ done: number; total: number } | null>(null);
  error = $state<string | null>(null);

  shown = $derived<Proposal[]>(this.set ? this.set.proposals.filter((p) => p.score >= this.minScore && !this.accepted.has(p.index)) : []);

  #seq = 0;
  /** the image of the run in progress */
  #imageId: number | null = null;

  /** `storedIds`: the annotations stored on the current image (read reactively) */
  constructor(private readonly storedIds: () => ReadonlySet<number>) {}

  async find(imageId: number): Promise<void> {
    const seq = ++this.#seq;
    this.busy = true;
    this.progress = null;
    this.#imageId = imageId;
    try {
      const set = await withErrorOn(this, () => api.samEverything({ imageId, predIouThresh: ASKED_MIN_SCORE }));
      // a run the user (or a newer run) ended is not an error
      if (this.error?.endsWith(JOB_CANCELLED)) this.error = null;
      if (seq !== this.#seq || !set) return;
      if (this.minScore === this.#defaultMinScore) this.minScore = set.defaultMinScore;
      this.#defaultMinScore = set.defaultMinScore;
      this.set = set;
      this.#acceptances = [];
    } finally {
      if (seq === this.#seq) { this.busy = false; this.progress = null; }
    }
  }

  onProgress(e: { imageId: number; done: number; total: number }): void {
    if (this.busy && e.imageId === this.#imageId) this.progress = { done: e.done, total: e.total };
  }

  /** Ends the run in progress, if any; the proposals already shown stay. */
  cancel(): void {
    if (!this.busy) return;
    this.#seq++;
    this.busy = false;
    this.progress = null;
    void api.samEverythingCancel().catch(() => undefined);
  }

  /** the smallest shown proposal covering a point (the one the user most likely means), or null */
  at(p: Point): Proposal | null {
    let best: Proposal | null = null;
    let bestArea = Infinity;
    for (const proposal of this.shown) {
      const { x, y, width, height, step, data } = proposal.mask;
      if (p.x < x || p.y < y || p.x >= x + width || p.y >= y + height) continue;
      const w = Math.ceil(width / step);
      if (!data[Math.floor((p.y - y) / step) * w + Math.floor((p.x - x) / step)]) continue;
      if (width * height < bestArea) { best = proposal; bestArea = width * height; }
    }
    return best;
  }

  markAccepted(indices: number[], annotationIds: number[]): void {
    this.#acceptances = [...this.#acceptances, { indices, annotationIds }];
  }

  clear(): void {
    this.cancel();
    this.#seq++;
    this.set = null;
    this.#acceptances = [];
  }
}
