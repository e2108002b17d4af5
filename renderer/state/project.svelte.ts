/**
 * The open project as the UI sees it: the image list (filtered, asked for a page at a time as it
 * is wanted), the current image, the labels and the current label. Changes only through these
 * methods, which call window.api.
 */
import { api, errorMessage, withErrorOn } from '../api.ts';
import {
  LABEL_HOTKEYS, type AddImagesProgress, type AddImagesResult, type ApiInput, type ImageListItem, type ImageStatus, type Label, type LabelDeleteMode, type ProjectInfo,
} from '../../preload/contract/index.ts';

export type ImageFilter = { kind: 'all' } | { kind: 'todo' } | { kind: 'done' } | { kind: 'label'; labelId: number };

/** images asked for at once: a page of 500 costs the store 8-35 ms at any offset */
const PAGE = 500;
/**
 * images either side of the current one asked for as soon as it is shown, so D and A, Ctrl+D's
 * neighbour and the encoder's next images find them here across a page boundary
 */
const AROUND = 8;

/** What each filter asks the store for. */
const FILTER_QUERY: Record<ImageFilter['kind'], (f: ImageFilter) => { status?: ImageStatus; labelId?: number }> = {
  all: () => ({}),
  todo: () => ({ status: 'new' }),
  done: () => ({ status: 'done' }),
  label: (f) => ({ labelId: (f as { labelId: number }).labelId }),
};

/** the page numbers holding the images first..last (none when last < first) */
function pagesOf(first: number, last: number): number[] {
  const pages: number[] = [];
  for (let p = Math.floor(Math.max(0, first) / PAGE); p * PAGE <= last; p++) pages.push(p);
  return pages;
}

export class ProjectState {
  info = $state.raw<ProjectInfo | null>(null);
  /**
   * The whole filtered list in its order, one entry per image: the pages asked for so far, holes
   * between them (a project of 20,000 images is not read at once; the list view asks for the
   * pages it shows, the current image for its own).
   */
  images = $state.raw<(ImageListItem | undefined)[]>([]);
  total = $derived(this.images.length);
  filter = $state.raw<ImageFilter>({ kind: 'all' });
  currentId = $state<number | null>(null);
  labels = $state.raw<Label[]>([]);
  currentLabelId = $state<number | null>(null);
  addProgress = $state.raw<AddImagesProgress | null>(null);
  lastAdd = $state.raw<AddImagesResult | null>(null);
  error = $state<string | null>(null);

  /** where the current image is in the list; -1 when the filter leaves it out */
  currentIndex = $derived(this.currentId === null ? -1 : this.images.findIndex((im) => im?.id === this.currentId));
  current = $derived(this.images[this.currentIndex] ?? null);
  currentLabel = $derived(this.labels.find((l) => l.id === this.currentLabelId) ?? null);

  /** called as soon as another project is open, before its lists arrive: image and annotation ids are per project */
  onProjectChange: () => void = () => undefined;

  /** bumps when the list is asked for again (filter, edits): pages of the list before are dropped */
  #listVersion = 0;
  /** the pages of this version of the list on their way, by page number */
  #loading = new Map<number, Promise<void>>();
  /** the rows the list view shows (first, last), asked for again with the list */
  #shown: [number, number] = [0, 0];
  /** the latest select: an earlier one whose page came later does not take the screen back */
  #selectSeq = 0;
  /** the last D or A asked for, done when it is */
  #steps = Promise.resolve();

  #run<T>(what: () => Promise<T>): Promise<T | undefined> {
    return withErrorOn(this, what);
  }

  /** a read of the list: a failure is shown, but a read (the list view scrolling) does not clear an earlier refusal's message */
  async #read<T>(what: () => Promise<T>): Promise<T | undefined> {
    try {
      return await what();
    } catch (err) {
      this.error = errorMessage(err);
      return undefined;
    }
  }

  #query(): { status?: ImageStatus; labelId?: number } {
    return FILTER_QUERY[this.filter.kind](this.filter);
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
    // the last project's ids name nothing here (nor does a select still on its way), and its list would place the first pages asked for
    this.#selectSeq++;
    this.currentId = null;
    this.images = [];
    await Promise.all([this.refreshImages(), this.refreshLabels()]);
    // where the user left off, however far down the list (not written back: it is the last image already)
    const last = info.lastImageId;
    const index = last ? await this.#locate(last) : -1;
    const start = index >= 0 ? last : (await this.at(0))?.id ?? null;
    if (this.info !== info) return;
    this.currentId = start;
    await this.#around(Math.max(index, 0));
  }

  async create(path: string): Promise<void> { await this.#opened(await this.#run(() => api.projectCreate({ path }))); }
  async open(path: string): Promise<void> { await this.#opened(await this.#run(() => api.projectOpen({ path }))); }
  async openSample(): Promise<void> { await this.#opened(await this.#run(() => api.projectOpenSample())); }
  async restore(): Promise<void> { await this.#opened((await this.#run(() => api.projectCurrent())) ?? undefined); }

  /**
   * Asks for the list again (another filter, an edit that may move images in or out of it): the
   * pages around the current image and those on screen, swapped in together so nothing on screen
   * blanks; the others come again when they are wanted.
   */
  async refreshImages(): Promise<void> {
    const version = ++this.#listVersion;
    this.#loading = new Map();
    const at = this.currentIndex;
    const pages = new Set([...pagesOf(at - AROUND, at + AROUND), ...pagesOf(...this.#shown)]);
    const query = this.#query();
    const got = await Promise.all([...pages].map(async (p) => ({ p, page: await this.#read(() => api.imagesList({ offset: p * PAGE, limit: PAGE, ...query })) })));
    if (version !== this.#listVersion || got.some(({ page }) => !page)) return;
    const images = new Array<ImageListItem | undefined>(got[0]!.page!.total);
    for (const { p, page } of got) images.splice(p * PAGE, page!.items.length, ...page!.items);
    this.images = images;
    // the current image keeps its neighbours at hand, also where the list moved it (another filter)
    if (this.currentId !== null) await this.#around(await this.#locate(this.currentId));
  }

  /** loads the pages holding rows first..last (the list view's, kept for refreshImages) */
  show(first: number, last: number): Promise<void> {
    this.#shown = [first, last];
    return this.want(first, last);
  }

  /** loads the pages holding the images first..last of the list that are not here yet */
  async want(first: number, last: number): Promise<void> {
    const missing = pagesOf(Math.max(0, first), Math.min(this.total - 1, last)).filter((p) => this.images[p * PAGE] === undefined);
    await Promise.all(missing.map((p) => this.#loadPage(p)));
  }

  #loadPage(p: number): Promise<void> {
    const known = this.#loading.get(p);
    if (known) return known;
    const [version, loading] = [this.#listVersion, this.#loading];
    const load = (async () => {
      const page = await this.#read(() => api.imagesList({ offset: p * PAGE, limit: PAGE, ...this.#query() }));
      loading.delete(p);
      if (!page || version !== this.#listVersion) return;
      const images = this.images.slice();
      images.splice(p * PAGE, page.items.length, ...page.items);
      this.images = images;
    })();
    loading.set(p, load);
    return load;
  }

  /** loads the images either side of `index`, which neighbour() and upcoming() read */
  async #around(index: number): Promise<void> {
    if (index >= 0) await this.want(index - AROUND, index + AROUND);
  }

  /** the image at `index` of the list, its page asked for if need be */
  async at(index: number): Promise<ImageListItem | null> {
    await this.want(index, index);
    return this.images[index] ?? null;
  }

  /**
   * Where an image is in the list, its page loaded; -1 when the filter leaves it out. The list is
   * in `position` order, so pages are searched by their first image's position: a few
   * one-image reads, not the list up to it.
   */
  async #locate(imageId: number): Promise<number> {
    const known = this.images.findIndex((im) => im?.id === imageId);
    if (known >= 0) return known;
    const image = await this.#read(() => api.imageGet({ imageId }));
    if (!image) return -1;
    const query = this.#query();
    let [lo, hi] = [0, Math.ceil(this.total / PAGE) - 1];
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const start = this.images[mid * PAGE]?.position
        ?? (await this.#read(() => api.imagesList({ offset: mid * PAGE, limit: 1, ...query })))?.items[0]?.position;
      if (start === undefined) return -1;
      if (start <= image.position) lo = mid;
      else hi = mid - 1;
    }
    await this.want(lo * PAGE, lo * PAGE);
    return this.images.findIndex((im) => im?.id === imageId);
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

  /**
   * Makes an image the current one: its page loaded first, so `current` comes with it, then its
   * neighbours (D and A pressed meanwhile already go on from it).
   */
  async select(imageId: number | null): Promise<void> {
    const seq = ++this.#selectSeq;
    const index = imageId === null ? -1 : await this.#locate(imageId);
    if (seq !== this.#selectSeq || this.currentId === imageId) return;
    this.currentId = imageId;
    if (imageId !== null) void api.projectSetLastImage({ imageId }).catch(() => undefined);
    await this.#around(index);
  }

  async listed(imageId: number): Promise<boolean> {
    return (await this.#locate(imageId)) >= 0;
  }

  /** the image D goes to, else (the last one) the one A goes to: where to go when the current one leaves the list */
  neighbour(): number | null {
    const i = this.currentIndex;
    return i < 0 ? null : (this.images[i + 1] ?? this.images[i - 1])?.id ?? null;
  }

  /**
   * D / A: the next or previous image of the filtered list (the first one when the current one is
   * not in it). Steps run one after another: D held down goes on from where the step before landed,
   * also while that one waited for a page.
   */
  step(delta: 1 | -1): Promise<void> {
    this.#steps = this.#steps.then(async () => {
      const next = await this.at(Math.max(0, Math.min(this.total - 1, this.currentIndex + delta)));
      if (next) await this.select(next.id);
    });
    return this.#steps;
  }

  /** the images after the current one (at most AROUND), for the background encoder */
  upcoming(count: number): number[] {
    const i = this.currentIndex;
    if (i < 0) return [];
    return this.images.slice(i + 1, i + 1 + count).filter((im): im is ImageListItem => !!im && !im.error).map((im) => im.id);
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
    if (this.currentId === null) await this.select((await this.at(0))?.id ?? null);
  }

  onAddProgress(progress: AddImagesProgress): void {
    if (this.addProgress) this.addProgress = progress;
  }

  async setStatus(imageId: number, status: ImageStatus): Promise<void> {
    await this.#change(() => api.imageSetStatus({ imageId, status }), () => this.refreshImages());
  }

  /** the count shown in the list changes with every accepted or deleted annotation */
  setAnnotationCount(imageId: number, count: number): void {
    const i = this.images.findIndex((im) => im?.id === imageId);
    const im = this.images[i];
    if (!im || im.annotationCount === count) return;
    const images = this.images.slice();
    images[i] = { ...im, annotationCount: count };
    this.images = images;
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
