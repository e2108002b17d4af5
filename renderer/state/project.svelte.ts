/**
 * The open project as the UI sees it: the image list (one page, filtered), the current image,
 * the labels and the current label. Changes only through these methods, which call window.api.
 */
import { api, withErrorOn } from '../api.ts';
import {
  LABEL_HOTKEYS, type AddImagesProgress, type AddImagesResult, type ApiInput, type ImageListItem, type ImageStatus, type Label, type LabelDeleteMode, type ProjectInfo,
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

  /** called as soon as another project is open, before its lists arrive: image and annotation ids are per project */
  onProjectChange: () => void = () => undefined;

  #run<T>(what: () => Promise<T>): Promise<T | undefined> {
    return withErrorOn(this, what);
  }

  /**
   * A change, then the list it changed. A refused change changed nothing, so nothing is asked
   * again: the refresh would clear the message that says why.
   */
  async #change<T>(call: () => Promise<T>, refresh: () => Promise<void>): Promise<{ value: T } | undefined> {
    const done = await this.#run(async () => ({ value: await call() }));
    if (done) await refresh();
    return done;
  }

  async #opened(info: ProjectInfo | undefined): Promise<void> {
    if (!info) return;
    this.info = info;
    this.onProjectChange();
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

  select(imageId: number | null): void {
    if (this.currentId === imageId) return;
    this.currentId = imageId;
    if (imageId !== null) void api.projectSetLastImage({ imageId }).catch(() => undefined);
  }

  listed(imageId: number): boolean {
    return this.images.some((im) => im.id === imageId);
  }

  /** the image D goes to, else (the last one) the one A goes to: where to go when the current one leaves the list */
  neighbour(): number | null {
    const i = this.images.findIndex((im) => im.id === this.currentId);
    return (this.images[i + 1] ?? this.images[i - 1])?.id ?? null;
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
    await this.#change(() => api.imageSetStatus({ imageId, status }), () => this.refreshImages());
  }

  /** the count shown in the list changes with every accepted or deleted annotation */
  setAnnotationCount(imageId: number, count: number): void {
    this.images = this.images.map((im) => (im.id === imageId && im.annotationCount !== count ? { ...im, annotationCount: count } : im));
  }

  selectLabel(labelId: number): void { this.currentLabelId = labelId; }

  labelByHotkey(key: string): Label | null {
    return this.labels.find((l) => l.hotkey === key) ?? null;
  }

  /** `forAnnotation`: made for the annotation about to be stored, which takes it into its undo step */
  async createLabel(name: string, color?: string, forAnnotation = false): Promise<Label | undefined> {
    const used = new Set(this.labels.map((l) => l.hotkey));
    const hotkey = LABEL_HOTKEYS.find((k) => !used.has(k)) ?? null;
    const created = await this.#change(() => api.labelCreate({ name, hotkey, ...(color ? { color } : {}), ...(forAnnotation ? { forAnnotation } : {}) }), () => this.refreshLabels());
    if (created) this.currentLabelId = created.value.id;
    return created?.value;
  }

  /** one undo step; false when the store refused it (the reason in `error`) */
  async updateLabel(labelId: number, change: Omit<ApiInput<'labelUpdate'>, 'labelId'>): Promise<boolean> {
    return !!(await this.#change(() => api.labelUpdate({ labelId, ...change }), () => this.refreshLabels()));
  }

  /** how many images have annotations of a label (0: deleting it deletes nothing else) */
  async imagesWithLabel(labelId: number): Promise<number | undefined> {
    return (await this.#run(() => api.imagesList({ offset: 0, limit: 1, labelId })))?.total;
  }

  /**
   * One undo step. 'refuse' fails when annotations use the label; 'delete-annotations' deletes
   * them with it and 'reassign' moves them to `toLabelId`, so the image list (counts; a filter on
   * that label, gone with it) is asked for again too.
   */
  async deleteLabel(labelId: number, mode: LabelDeleteMode, toLabelId?: number): Promise<boolean> {
    return !!(await this.#change(() => api.labelDelete({ labelId, mode, ...(toLabelId === undefined ? {} : { toLabelId }) }), async () => {
      if (this.filter.kind === 'label' && this.filter.labelId === labelId) this.filter = { kind: 'all' };
      await Promise.all([this.refreshLabels(), this.refreshImages()]);
    }));
  }

  labelColor(labelId: number): string {
    return this.labels.find((l) => l.id === labelId)?.color ?? '#ff00ff';
  }

  imageUrl(kind: 'full' | 'thumb', imageId: number): string {
    return `${this.info?.imageUrlBase ?? ''}${kind}/${imageId}`;
  }
}
