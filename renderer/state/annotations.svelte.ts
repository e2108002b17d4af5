/**
 * The current image's annotations: masks as raw typed arrays (replaced whole, never proxied),
 * the selection, and the only ways to change them, each one a window.api call that the project
 * store commits as one transaction and one undo step before the list here changes.
 */
import { api, withErrorOn } from '../api.ts';
import type { AnnotationView, HistoryStep } from '../../preload/contract/index.ts';

export class AnnotationsState {
  imageId = $state<number | null>(null);
  items = $state.raw<AnnotationView[]>([]);
  selectedId = $state<number | null>(null);
  error = $state<string | null>(null);
  /** bumps on every change, so the canvas knows to redraw */
  version = $state(0);

  visible = $derived(this.items.filter((a) => !a.hidden));
  selected = $derived(this.items.find((a) => a.id === this.selectedId) ?? null);
  /** the ids stored on this image (an undo takes one away, a redo brings it back) */
  ids = $derived<ReadonlySet<number>>(new Set(this.items.map((a) => a.id)));

  #loadSeq = 0;

  /** called after every change with the image and its new annotation count */
  onCountChange: (imageId: number, count: number) => void = () => undefined;

  #run<T>(what: () => Promise<T>): Promise<T | undefined> {
    return withErrorOn(this, what);
  }

  #set(items: AnnotationView[]): void {
    this.items = items;
    // an undo (or a label deleted with its annotations) can take the selected one away
    if (this.selectedId !== null && !items.some((a) => a.id === this.selectedId)) this.selectedId = null;
    this.version++;
    if (this.imageId !== null) this.onCountChange(this.imageId, items.length);
  }

  /**
   * Another project is open: its annotation ids name other annotations, so nothing listed or
   * selected here may stay (Delete would delete that project's annotation of the same id), and
   * a list still on its way is dropped.
   */
  forget(): void {
    this.#loadSeq++;
    this.imageId = null;
    this.selectedId = null;
    this.error = null;
    this.#set([]);
  }

  async load(imageId: number | null): Promise<void> {
    if (this.imageId !== imageId) this.selectedId = null;
    this.imageId = imageId;
    if (imageId === null) { this.#set([]); return; }
    const seq = ++this.#loadSeq;
    const changesBefore = this.version;
    const items = await this.#run(() => api.annotationsList({ imageId }));
    if (!items || seq !== this.#loadSeq || this.imageId !== imageId) return;
    // an edit landed while the list was on its way: that list is stale, ask again
    if (this.version !== changesBefore) return this.load(imageId);
    this.#set(items);
  }

  #replace(a: AnnotationView): void {
    if (a.imageId !== this.imageId) return;
    const exists = this.items.some((x) => x.id === a.id);
    this.#set(exists ? this.items.map((x) => (x.id === a.id ? a : x)) : [...this.items, a]);
  }

  /** stores a SAM answer's candidate (the main process holds its full-resolution mask, prompts and score) */
  async addPrediction(labelId: number, resultId: number, candidate: number): Promise<AnnotationView | undefined> {
    const imageId = this.imageId;
    if (imageId === null) return undefined;
    const a = await this.#run(() => api.annotationAddPrediction({ imageId, labelId, resultId, candidate }));
    if (a) this.#replace(a);
    return a;
  }

  /** stores chosen "segment everything" proposals with one label, one undo step */
  async acceptProposals(labelId: number, proposalsId: number, indices: number[]): Promise<AnnotationView[]> {
    const imageId = this.imageId;
    if (imageId === null || indices.length === 0) return [];
    const added = await this.#run(() => api.annotationsAcceptProposals({ imageId, labelId, proposalsId, indices }));
    if (!added) return [];
    if (imageId === this.imageId) this.#set([...this.items, ...added]);
    return added;
  }

  async addPolygon(labelId: number, points: [number, number][]): Promise<void> {
    const imageId = this.imageId;
    if (imageId === null) return;
    const a = await this.#run(() => api.annotationAddPolygon({ imageId, labelId, points }));
    if (a) { this.#replace(a); this.selectedId = a.id; }
  }

  /** brush (1) or eraser (0) on the selected annotation; a brush stroke with none selected makes one */
  async brush(labelId: number, points: [number, number][], radiusPx: number, value: 0 | 1): Promise<void> {
    const imageId = this.imageId;
    if (imageId === null) return;
    const annotationId = this.selectedId;
    if (annotationId === null && value === 0) return;
    const a = await this.#run(() => api.annotationBrush({ imageId, annotationId, labelId, points, radiusPx, value }));
    if (a === undefined) return;
    if (a === null) {
      // erased to nothing: the store deleted it
      this.#set(this.items.filter((x) => x.id !== annotationId));
      this.selectedId = null;
    } else {
      this.#replace(a);
      this.selectedId = a.id;
    }
  }

  select(id: number | null): void { this.selectedId = id; }

  async relabel(id: number, labelId: number): Promise<void> {
    const a = await this.#run(() => api.annotationUpdate({ annotationId: id, labelId }));
    if (a) this.#replace(a);
  }

  async toggleHidden(id: number): Promise<void> {
    const current = this.items.find((x) => x.id === id);
    if (!current) return;
    const a = await this.#run(() => api.annotationUpdate({ annotationId: id, hidden: !current.hidden }));
    if (a) this.#replace(a);
  }

  async remove(id: number): Promise<void> {
    const ok = await this.#run(() => api.annotationDelete({ annotationId: id }).then(() => true));
    if (!ok) return;
    if (this.selectedId === id) this.selectedId = null;
    this.#set(this.items.filter((x) => x.id !== id));
  }

  /** Undo or redo one step; returns the step so the caller can switch to the image it touched. */
  async history(direction: 'undo' | 'redo'): Promise<HistoryStep | null> {
    const step = await this.#run(() => (direction === 'undo' ? api.undo() : api.redo()));
    if (!step) return null;
    if (step.imageId === this.imageId || step.imageId === null) await this.load(this.imageId);
    return step;
  }
}
