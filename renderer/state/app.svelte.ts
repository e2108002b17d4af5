/**
 * The whole UI's state: the project, the current image's annotations, the engine, the view and
 * the active tool, plus which screen and dialog are open. It is the tools' host (tools ask, this
 * does) and runs the shortcut actions from renderer/shortcuts.ts.
 */
import { api, errorMessage } from '../api.ts';
import type { ApiEvent, LabelDeleteMode } from '../../preload/contract/index.ts';
import { type ActionId, type Shortcut } from '../shortcuts.ts';
import { TOOL_FACTORIES } from '../tools/index.ts';
import type { Point, Tool, ToolHost, ToolId } from '../tools/types.ts';
import { AnnotationsState } from './annotations.svelte.ts';
import { EngineState } from './engine.svelte.ts';
import { ProjectState } from './project.svelte.ts';
import { ProposalsState } from './proposals.svelte.ts';
import { ViewState } from './view.svelte.ts';

export type Screen = 'start' | 'annotate' | 'models' | 'wizard';
export type Dialog = 'export' | 'import' | 'shortcuts' | null;

const PREFETCH_AHEAD = 3;
const PROJECT_FILTERS = [{ name: 'PTQ4SAM Studio project', extensions: ['ptq4sam'] }];
const IMAGE_FILTERS = [{ name: 'Images', extensions: ['png', 'jpg', 'jpeg', 'webp', 'tif', 'tiff', 'bmp'] }];

export class AppState implements ToolHost {
  readonly project = new ProjectState();
  readonly annotations = new AnnotationsState();
  readonly engine = new EngineState();
  readonly view = new ViewState();
  readonly proposals = new ProposalsState(() => this.annotations.ids);
  readonly tools: Record<ToolId, Tool>;

  screen = $state<Screen>('start');
  dialog = $state<Dialog>(null);
  /** the open dialog runs an import or an export */
  dialogBusy = $state(false);
  toolId = $state<ToolId>('point');
  brushRadiusPx = $state(12);
  /** bumps when a tool's draft changes, so the canvas redraws it */
  draftVersion = $state(0);
  /** the active tool's state path (e.g. 'box.dragging'), read after every event: tools are plain state machines */
  toolPath = $state('point.idle');
  /** a one-line message for the user (SAM tools without a model, errors) */
  notice = $state<string | null>(null);
  /** the boxes-to-masks run in progress (images done of total, masks made, seconds left), or null */
  boxRun = $state.raw<{ done: number; total: number; created: number; etaSeconds: number | null } | null>(null);

  tool = $derived.by(() => this.tools[this.toolId]);

  constructor() {
    this.tools = Object.fromEntries(
      Object.entries(TOOL_FACTORIES).map(([id, make]) => [id, make(this)]),
    ) as Record<ToolId, Tool>;
    this.annotations.onCountChange = (imageId, count) => this.project.setAnnotationCount(imageId, count);
    this.project.onProjectChange = () => this.#forgetProject();
  }

  /** another project is open (any way: dialog, sample, restore): what named the last one's images and annotations goes */
  #forgetProject(): void {
    for (const t of Object.values(this.tools)) t.reset();
    this.proposals.clear();
    this.annotations.forget();
    this.engine.forgetImages();
    this.draftVersion++;
  }

  async start(): Promise<void> {
    api.onEvent((e) => this.onEvent(e));
    await this.engine.refreshStatus();
    await this.project.restore();
    if (!this.project.info) {
      const setup = await api.setupState().catch(() => null);
      if (setup && !setup.skipped && !this.engine.status?.model) this.screen = 'wizard';
      await this.project.openSample();
    }
    if (this.project.info && this.screen === 'start') this.screen = 'annotate';
    await this.imageChanged();
  }

  onEvent(e: ApiEvent): void {
    if (e.type === 'images-progress') this.project.onAddProgress(e.progress);
    else if (e.type === 'encode-progress') this.engine.onEncodeProgress(e);
    else if (e.type === 'everything-progress') this.proposals.onProgress(e);
    else if (e.type === 'autolabel-progress' && this.boxRun) this.boxRun = { done: e.done, total: e.total, created: e.created, etaSeconds: e.etaSeconds };
    else if (e.type === 'menu') void this.runAction(MENU_ACTIONS[e.command]);
  }

  /** after the current image changed: load its annotations and start encoding it */
  async imageChanged(): Promise<void> {
    for (const t of Object.values(this.tools)) t.reset();
    // the reset tools' drafts (a polygon's vertices) must not stay drawn over the next image
    this.draftVersion++;
    this.proposals.clear();
    const id = this.project.currentId;
    const image = this.project.current;
    const usable = image && !image.error ? id : null;
    await Promise.all([
      this.annotations.load(id),
      this.engine.openImage(usable, usable === null ? [] : this.project.upcoming(PREFETCH_AHEAD)),
    ]);
    // the Everything tool stays on: its proposals for this image, as choosing it (G) gives them
    if (this.toolId === 'everything') this.findProposals();
  }

  selectTool(id: ToolId): void {
    // leaving the Everything tool ends its run: it would hold the decoder for half a minute
    if (id !== 'everything') this.proposals.cancel();
    this.tool.reset();
    this.engine.clear();
    this.toolId = id;
    this.notice = this.tools[id].needsModel && !this.engine.available ? this.noModelNotice() : null;
    this.draftVersion++;
    if (id === 'everything') this.findProposals();
  }

  /** "segment everything" on the current image, unless its proposals are on screen already */
  findProposals(): void {
    const id = this.#samImage();
    if (id !== null && this.proposals.set?.imageId !== id && !this.proposals.busy) void this.proposals.find(id);
  }

  pickProposal(at: Point): void {
    const proposal = this.proposals.at(at);
    if (proposal) void this.#acceptProposals([proposal.index]);
  }

  acceptAllProposals(): void {
    void this.#acceptProposals(this.proposals.shown.map((p) => p.index));
  }

  async #acceptProposals(indices: number[]): Promise<void> {
    const set = this.proposals.set;
    if (!set || indices.length === 0 || set.imageId !== this.project.currentId) return;
    const labelId = await this.#ensureLabel();
    if (labelId === null) return;
    const added = await this.annotations.acceptProposals(labelId, set.proposalsId, indices);
    if (added.length > 0) this.proposals.markAccepted(indices, added.map((a) => a.id));
  }

  noModelNotice(): string {
    return this.engine.status?.problem
      ?? 'SAM tools need a model: open Models (M) to import a checkpoint or run the setup wizard. Polygon (P) and brush (B) work without one.';
  }

  // ToolHost
  scale(): number { return this.view.scale; }
  brushRadius(): number { return this.brushRadiusPx; }

  #samImage(): number | null {
    if (!this.engine.available) { this.notice = this.noModelNotice(); return null; }
    const id = this.project.currentId;
    return id !== null && !this.project.current?.error ? id : null;
  }

  hover(at: Point): void {
    const id = this.#samImage();
    if (id !== null && this.#inside(at)) this.engine.hover(id, at);
  }

  click(at: Point, label: 0 | 1): boolean {
    const id = this.#samImage();
    if (id === null || !this.#inside(at)) return false;
    void this.engine.click(id, at, label);
    return true;
  }

  removeLastPrompt(): boolean {
    const id = this.project.currentId;
    return id !== null && this.engine.removeLastPrompt(id);
  }

  setBox(box: [number, number, number, number]): void {
    const id = this.#samImage();
    if (id === null) return;
    const [w, h] = [this.view.imageWidth, this.view.imageHeight];
    const clamped: [number, number, number, number] = [
      Math.max(0, box[0]), Math.max(0, box[1]), Math.min(w, box[2]), Math.min(h, box[3]),
    ];
    void this.engine.setBox(id, clamped);
  }

  #inside(p: Point): boolean {
    return p.x >= 0 && p.y >= 0 && p.x < this.view.imageWidth && p.y < this.view.imageHeight;
  }

  accept(): void { void this.acceptMask(); }

  async acceptMask(): Promise<void> {
    // the mask first: a project without labels gets its first one only for something to accept
    const taken = await this.engine.take();
    if (!taken) { this.notice = 'Nothing to accept: the mask is empty (Tab shows the other candidates).'; return; }
    const labelId = await this.#ensureLabel();
    if (labelId === null) return;
    const a = await this.annotations.addPrediction(labelId, taken.resultId, taken.candidate);
    if (a) this.annotations.select(a.id);
    this.draftVersion++;
  }

  clear(): void {
    this.engine.clear();
    this.draftVersion++;
  }

  commitPolygon(points: [number, number][]): void {
    void this.#ensureLabel().then((labelId) => (labelId === null ? undefined : this.annotations.addPolygon(labelId, points)));
  }

  commitStroke(points: [number, number][], value: 0 | 1): void {
    const target = this.annotations.selected;
    // a hidden annotation is no canvas target, as in labelme and CVAT: a stroke would change pixels
    // the user cannot see (it stays selected, so H shows it again)
    if (target?.hidden) { this.notice = `#${target.id} is hidden: show it (H) to paint or erase in it.`; return; }
    // the eraser changes the selected annotation only (none: nothing to erase), keeping its label
    if (value === 0) { if (target) void this.annotations.brush(target.labelId, points, this.brushRadiusPx, 0); return; }
    void this.#ensureLabel().then((labelId) => (labelId === null ? undefined : this.annotations.brush(labelId, points, this.brushRadiusPx, 1)));
  }

  /**
   * Deletes a label, one undo step: 'delete-annotations' deletes its annotations with it,
   * 'reassign' moves them to `toLabelId`. The current image's list is asked for again (its
   * annotations may have gone, a selected one with them, or changed label).
   */
  async deleteLabel(labelId: number, mode: LabelDeleteMode, toLabelId?: number): Promise<void> {
    if (!(await this.project.deleteLabel(labelId, mode, toLabelId))) return;
    if (mode !== 'refuse') await this.annotations.load(this.annotations.imageId);
  }

  /** the current label; a project without labels gets a first one, so accepting never fails */
  async #ensureLabel(): Promise<number | null> {
    if (this.project.currentLabelId !== null) return this.project.currentLabelId;
    // made for the annotation about to be stored: one undo takes both back
    const label = await this.project.createLabel('object', undefined, true);
    return label?.id ?? null;
  }

  // Shortcut actions: one entry per ActionId.
  readonly actions: Record<ActionId, (arg?: string) => void | Promise<void>> = {
    'tool-point': () => this.selectTool('point'),
    'tool-box': () => this.selectTool('box'),
    'tool-everything': () => this.selectTool('everything'),
    'tool-polygon': () => this.selectTool('polygon'),
    'tool-brush': () => this.selectTool('brush'),
    'tool-eraser': () => this.selectTool('eraser'),
    accept: () => { if (!this.tool.key('Enter')) return; this.draftVersion++; },
    clear: () => {
      // a dialog whose import or export runs stays open: its progress and report are there (its Cancel stops it)
      if (this.dialog) { if (!this.dialogBusy) this.dialog = null; return; }
      if (!this.tool.key('Escape')) { this.engine.clear(); this.annotations.select(null); }
      this.draftVersion++;
    },
    'cycle-candidate': () => void this.engine.cycle(),
    label: (key) => {
      const label = key ? this.project.labelByHotkey(key) : null;
      if (!label) return;
      this.project.selectLabel(label.id);
      const sel = this.annotations.selectedId;
      if (sel !== null) return this.annotations.relabel(sel, label.id);
    },
    'next-image': () => this.goTo(1),
    'prev-image': () => this.goTo(-1),
    'toggle-done': async () => {
      const im = this.project.current;
      if (!im) return;
      // the list may be filtered by status (To do, Done): then the image leaves it, and the next one is shown
      const next = this.project.neighbour();
      await this.project.setStatus(im.id, im.status === 'done' ? 'new' : 'done');
      if (await this.project.listed(im.id)) return;
      await this.project.select(next !== null && await this.project.listed(next) ? next : (await this.project.at(0))?.id ?? null);
      await this.imageChanged();
    },
    undo: () => {
      // a gesture in progress takes back its last vertex or point first, as Backspace does
      if (this.tool.key('Backspace')) { this.draftVersion++; return; }
      return this.history('undo');
    },
    redo: () => this.history('redo'),
    'delete-selected': () => {
      if (this.tool.key('Backspace')) { this.draftVersion++; return; }
      const sel = this.annotations.selectedId;
      if (sel !== null) return this.annotations.remove(sel);
    },
    'hide-selected': () => {
      const sel = this.annotations.selectedId;
      if (sel !== null) return this.annotations.toggleHidden(sel);
    },
    fit: () => this.view.fit(),
    'one-to-one': () => this.view.oneToOne(),
    'opacity-down': () => this.view.setOpacity(this.view.overlayOpacity - 0.1),
    'opacity-up': () => this.view.setOpacity(this.view.overlayOpacity + 0.1),
    'toggle-outlines': () => { this.view.showOutlines = !this.view.showOutlines; },
    'brush-smaller': () => { this.brushRadiusPx = Math.max(1, Math.round(this.brushRadiusPx / 1.25)); },
    'brush-bigger': () => { this.brushRadiusPx = Math.min(500, Math.round(this.brushRadiusPx * 1.25) + 1); },
    export: () => { if (this.project.info) this.dialog = 'export'; },
    import: () => { if (this.project.info && !this.project.info.readOnly) this.dialog = 'import'; },
    models: () => { this.screen = this.screen === 'models' ? 'annotate' : 'models'; },
    shortcuts: () => { if (!this.dialogBusy) this.dialog = this.dialog === 'shortcuts' ? null : 'shortcuts'; },
    'open-project': () => this.openProjectDialog(),
    'new-project': () => this.newProjectDialog(),
    'add-images': () => this.addImagesDialog(),
    'add-folder': () => this.addFolderDialog(),
  };

  async runAction(action: ActionId, arg?: string): Promise<void> {
    try {
      await this.actions[action](arg);
    } catch (err) {
      this.notice = errorMessage(err);
    }
  }

  runShortcut(s: Shortcut): Promise<void> { return this.runAction(s.action, s.arg); }

  async goTo(delta: 1 | -1): Promise<void> {
    await this.project.step(delta);
    await this.imageChanged();
  }

  async openImage(imageId: number): Promise<void> {
    await this.project.select(imageId);
    await this.imageChanged();
  }

  async history(direction: 'undo' | 'redo'): Promise<void> {
    const step = await this.annotations.history(direction);
    if (step?.imageId != null && step.imageId !== this.project.currentId) {
      // the step changed another image: show it, so nothing changes out of sight; the list
      // filter may hide it (To do, a label), so the whole list comes back first
      if (!(await this.project.listed(step.imageId))) await this.project.setFilter({ kind: 'all' });
      await this.openImage(step.imageId);
    }
    if (step?.labelIds.length) await this.project.refreshLabels();
    // a project-wide step (a label deleted with its annotations) changed other images' counts
    if (step && step.imageId === null) await this.project.refreshImages();
  }

  async openProjectDialog(): Promise<void> {
    const [path] = await api.dialogOpenFiles({ title: 'Open a project', filters: PROJECT_FILTERS, multiple: false });
    if (!path) return;
    await this.project.open(path);
    await this.#afterProject();
  }

  async newProjectDialog(): Promise<void> {
    const path = await api.dialogSaveFile({ title: 'New project', filters: PROJECT_FILTERS, defaultName: 'labels.ptq4sam' });
    if (!path) return;
    await this.project.create(path);
    await this.#afterProject();
  }

  async #afterProject(): Promise<void> {
    if (this.project.info) this.screen = 'annotate';
    await this.imageChanged();
  }

  async addImagesDialog(): Promise<void> {
    const paths = await api.dialogOpenFiles({ title: 'Add images', filters: IMAGE_FILTERS, multiple: true });
    if (paths.length) await this.project.addImages(paths);
    await this.imageChanged();
  }

  /**
   * SAM masks for box-only annotations (a detection import's boxes): of these images, else every
   * image's; each image one undo step. The result is said in the notice line.
   */
  async masksForBoxes(imageIds?: number[]): Promise<void> {
    if (this.boxRun) return;
    if (!this.engine.available) { this.notice = this.noModelNotice(); return; }
    this.boxRun = { done: 0, total: 0, created: 0, etaSeconds: null };
    try {
      const r = await api.boxesToMasks(imageIds ? { imageIds } : {});
      const left = r.skipped ? `; ${r.skipped} box${r.skipped === 1 ? '' : 'es'} left as boxes (empty mask or unusable image)` : '';
      this.notice = `Masks for boxes: ${r.created} mask${r.created === 1 ? '' : 's'} on ${r.images} image${r.images === 1 ? '' : 's'}${left}${r.cancelled ? '; cancelled, the rest are still boxes' : ''}.${r.notes.length ? ` ${r.notes.join('; ')}` : ''}`;
    } catch (err) {
      this.notice = errorMessage(err);
    } finally {
      this.boxRun = null;
    }
    await this.annotations.load(this.project.currentId);
  }

  /** After an import (one undo step): its images, labels and the current image's annotations. */
  async imported(): Promise<void> {
    await Promise.all([this.project.refreshImages(), this.project.refreshLabels()]);
    if (this.project.currentId !== null) return this.annotations.load(this.project.currentId);
    // a project without images until now: show the first one the import added
    await this.project.select((await this.project.at(0))?.id ?? null);
    await this.imageChanged();
  }

  async addFolderDialog(): Promise<void> {
    const path = await api.dialogOpenFolder({ title: 'Add a folder of images' });
    if (path) await this.project.addFolder(path);
    await this.imageChanged();
  }
}

const MENU_ACTIONS: Record<Extract<ApiEvent, { type: 'menu' }>['command'], ActionId> = {
  'project-new': 'new-project',
  'project-open': 'open-project',
  'images-add': 'add-images',
  'folder-add': 'add-folder',
  import: 'import',
  export: 'export',
  undo: 'undo',
  redo: 'redo',
  models: 'models',
  shortcuts: 'shortcuts',
};
