/**
 * The open project as the UI sees it: the image list (one page, filtered), the current image,
 * the labels and the current label. Changes only through these methods, which call window.api.
 */
import { api, withErrorOn } from '../api.ts';
import {
  LABEL_HOTKEYS, type AddImagesProgress, type AddImagesResult, type ApiInput, type ImageListItem, type ImageStatus, type Label, type ProjectInfo,
} from '../../preload/contract/index.ts';

export type ImageFilter = { kind: 'all' } | { kind: 'todo' } | { kind: 'done' } | { kind: 'label'; labelId: number };

const PAGE = 500;

/** What each filter asks the store for. */
const FILTER_QUERY: Record<ImageFilter['kind'], (f: ImageFilter) => { status?: ImageStatus; labelId?: number }> = {
  all: () => ({}),
  todo: () => ({ status: 'new' }),
  done: () => ({ status: 'done' }),
  label: (f) => ({ labelId: (f as { labelId: number }).labelId }),
};

export class ProjectState {
  info = $state.raw<ProjectInfo | null>(null);
  images = $state.raw<ImageListItem[]>([]);
  total = $state(0);
  filter = $state.raw<ImageFilter>({ kind: 'all' });
  currentId = $state<number | null>(null);
  labels = $state.raw<Label[]>([]);
  currentLabelId = $state<number | null>(null);
  addProgress = $state.raw<AddImagesProgress | null>(null);
  lastAdd = $state.raw<AddImagesResult | null>(null);
  error = $state<string | null>(null);

  current = $derived(this.images.find((i) => i.id === this.currentId) ?? null);
  currentLabel = $derived(this.labels.find((l) => l.id === this.currentLabelId) ?? null);

  #run<T>(what: () => Promise<T>): Promise<T | undefined> {
    return withErrorOn(this, what);
  }

  async #opened(info: ProjectInfo | undefined): Promise<void> {
    if (!info) return;
    this.info = info;
    this.filter = { kind: 'all' };
    await Promise.all([this.refreshImages(), this.refreshLabels()]);
    const start = info.lastImageId && this.images.some((i) => i.id === info.lastImageId)
      ? info.lastImageId : this.images[0]?.id ?? null;
    this.currentId = start;
  }

  async create(path: string): Promise<void> { await this.#opened(await this.#run(() => api.projectCreate({ path }))); }
  async open(path: string): Promise<void> { await this.#opened(await this.#run(() => api.projectOpen({ path }))); }
  async openSample(): Promise<void> { await this.#opened(await this.#run(() => api.projectOpenSample())); }
  async restore(): Promise<void> { await this.#opened((await this.#run(() => api.projectCurrent())) ?? undefined); }

  async refreshImages(): Promise<void> {
    const page = await this.#run(() => api.imagesList({ offset: 0, limit: PAGE, ...FILTER_QUERY[this.filter.kind](this.filter) }));
    if (!page) return;
    this.images = page.items;
    this.total = page.total;
  }

  async refreshLabels(): Promise<void> {
    const labels = await this.#run(() => api.labelsList());
    if (!labels) return;
    this.labels = labels;
    if (!labels.some((l) => l.id === this.currentLabelId)) this.currentLabelId = labels[0]?.id ?? null;
  }

  async setFilter(filter: ImageFilter): Promise<void> {
    this.filter = filter;
    await this.refreshImages();
  }

  select(imageId: number): void {
    if (this.currentId === imageId) return;
    this.currentId = imageId;
    void api.projectSetLastImage({ imageId }).catch(() => undefined);
  }

  /** D / A: the next or previous image of the filtered list */
  step(delta: 1 | -1): void {
    const i = this.images.findIndex((im) => im.id === this.currentId);
    const next = this.images[Math.max(0, Math.min(this.images.length - 1, i + delta))];
    if (next) this.select(next.id);
  }

  /** the images after the current one, for the background encoder */
  upcoming(count: number): number[] {
    const i = this.images.findIndex((im) => im.id === this.currentId);
    return this.images.slice(i + 1, i + 1 + count).filter((im) => !im.error).map((im) => im.id);
  }

  async addImages(paths: string[]): Promise<void> { await this.#added(() => api.imagesAdd({ paths })); }
  async addFolder(path: string): Promise<void> { await this.#added(() => api.imagesAddFolder({ path })); }

  async #added(call: () => Promise<AddImagesResult>): Promise<void> {
    this.addProgress = { phase: 'scan', done: 0, total: 0, path: '' };
    const result = await this.#run(call);
    this.addProgress = null;
    if (!result) return;
    this.lastAdd = result;
    await this.refreshImages();
    if (this.currentId === null && this.images[0]) this.select(this.images[0].id);
  }

  onAddProgress(progress: AddImagesProgress): void {
    if (this.addProgress) this.addProgress = progress;
  }

  async setStatus(imageId: number, status: ImageStatus): Promise<void> {
    await this.#run(() => api.imageSetStatus({ imageId, status }));
    await this.refreshImages();
  }

  /** the count shown in the list changes with every accepted or deleted annotation */
  setAnnotationCount(imageId: number, count: number): void {
    this.images = this.images.map((im) => (im.id === imageId && im.annotationCount !== count ? { ...im, annotationCount: count } : im));
  }

  selectLabel(labelId: number): void { this.currentLabelId = labelId; }

  labelByHotkey(key: string): Label | null {
    return this.labels.find((l) => l.hotkey === key) ?? null;
  }

  async createLabel(name: string, color?: string): Promise<Label | undefined> {
    const used = new Set(this.labels.map((l) => l.hotkey));
    const hotkey = LABEL_HOTKEYS.find((k) => !used.has(k)) ?? null;
    const label = await this.#run(() => api.labelCreate({ name, hotkey, ...(color ? { color } : {}) }));
    await this.refreshLabels();
    if (label) this.currentLabelId = label.id;
    return label;
  }

  async updateLabel(labelId: number, change: Omit<ApiInput<'labelUpdate'>, 'labelId'>): Promise<void> {
    await this.#run(() => api.labelUpdate({ labelId, ...change }));
    await this.refreshLabels();
  }

  async deleteLabel(labelId: number): Promise<void> {
    await this.#run(() => api.labelDelete({ labelId, mode: 'refuse' }));
    await this.refreshLabels();
  }

  labelColor(labelId: number): string {
    return this.labels.find((l) => l.id === labelId)?.color ?? '#ff00ff';
  }

  imageUrl(kind: 'full' | 'thumb', imageId: number): string {
    return `${this.info?.imageUrlBase ?? ''}${kind}/${imageId}`;
  }
}
