/**
 * The handler table: one function per method of the contract's `API` (preload/contract), which
 * fixes each method's input schema and result type, so a method missing here fails to compile.
 * Each method's raw argument from the renderer is parsed with its schema (a refusal names the
 * method and the field) before its handler runs; handlers add only the rules that need the open
 * project: a prompt lies inside its image, a path came through a dialog (paths.ts).
 */
import { rleArea, rleOfPolygons } from '../masks/index.ts';
import { API, API_METHODS, ApiInputError, type ApiInput, type ApiMethod, type ApiResult, type SamPrompt } from '../../preload/contract/index.ts';
import { num } from '../../preload/contract/schema.ts';
import type { ApiContext } from '../services/context.ts';
import { exportFormats, runExport } from '../services/export.ts';
import { importFormats, runImport } from '../services/import.ts';
import { annotationView, paintStrokeOnRle, rleFromMask, uncropMask } from '../services/masks.ts';
import { ModelService } from '../services/models.ts';
import { Session } from '../services/session.ts';
import { SetupService } from '../services/setup.ts';

/** What main/app and the tests call: the renderer's argument is untrusted, hence `unknown`. */
export type Handlers = { [M in ApiMethod]: (input: unknown) => Promise<ApiResult<M>> };
type Implementations = { [M in ApiMethod]: (input: ApiInput<M>) => Promise<ApiResult<M>> };

/** The prompt's points and box must lie inside the image (the schema knows no image). */
function checkInsideImage(where: string, prompt: SamPrompt, width: number, height: number): void {
  const x = num(0, width);
  const y = num(0, height);
  prompt.points.forEach((p, i) => { x.parse(`${where}.points[${i}].x`, p.x); y.parse(`${where}.points[${i}].y`, p.y); });
  prompt.box?.forEach((n, i) => (i % 2 ? y : x).parse(`${where}.box[${i}]`, n));
}

/** how many window settings prefs.json keeps at most */
const MAX_UI_PREFS = 200;

export function createHandlers(ctx: ApiContext): { handlers: Handlers; session: Session } {
  const s = new Session(ctx);
  const models = new ModelService(s);
  const setup = new SetupService(s, models);
  /** the running export's cancel switch */
  let exporting: AbortController | null = null;
  /** the running import's */
  let importing: AbortController | null = null;

  const imageSize = (imageId: number) => {
    const im = s.need().getImage(imageId);
    if (im.error || im.width === null || im.height === null) throw new Error(`image ${im.path} cannot be used: ${im.error ?? 'unknown size'}`);
    return { width: im.width, height: im.height };
  };

  const implementations: Implementations = {
    // ---- dialogs: what the user picks becomes allowed ----
    async dialogOpenFiles(o) {
      const paths = await ctx.dialogs.openFiles(o);
      for (const p of paths) s.allowed.allowFile(p);
      return paths;
    },
    async dialogOpenFolder(o) {
      const path = await ctx.dialogs.openFolder(o);
      if (path) s.allowed.allowFolder(path);
      return path;
    },
    async dialogSaveFile(o) {
      const path = await ctx.dialogs.saveFile(o);
      if (path) s.allowed.allowFile(path);
      return path;
    },

    // ---- projects ----
    async projectCreate({ path }) { return s.create(s.resolveChosen('projectCreate', path)); },
    async projectOpen({ path }) { return s.open(s.resolveChosen('projectOpen', path)); },
    async projectOpenSample() { return s.openSample(); },
    async projectCurrent() { return s.project ? s.info() : null; },
    async projectRecent() { return s.prefs.get().recentProjects; },
    async projectSetLastImage({ imageId }) { s.setLastImage(imageId); },

    // ---- images ----
    async imagesAdd(o) {
      const paths = o.paths.map((p) => s.resolveChosen('imagesAdd', p));
      return s.need().addImages(paths, { onProgress: (progress) => ctx.emit({ type: 'images-progress', progress }) });
    },
    async imagesAddFolder(o) {
      const path = s.resolveChosen('imagesAddFolder', o.path);
      return s.need().addImages([path], { onProgress: (progress) => ctx.emit({ type: 'images-progress', progress }) });
    },
    async imagesList(o) { return s.need().listImages(o); },
    async imageGet({ imageId }) { return s.need().getImage(imageId); },
    async imageSetStatus({ imageId, status }) { s.need().setImageStatus(imageId, status); },

    // ---- labels ----
    async labelsList() { return s.need().listLabels(); },
    async labelCreate({ hotkey, forAnnotation, ...label }) { return s.need().addLabel({ ...label, hotkey: hotkey ?? null }, { forAnnotation: forAnnotation ?? false }); },
    async labelUpdate({ labelId, ...change }) { return s.need().updateLabel(labelId, change); },
    async labelDelete({ labelId, mode, toLabelId }) {
      if (mode !== 'reassign') { s.need().deleteLabel(labelId, { mode }); return; }
      if (toLabelId === undefined) throw new ApiInputError('labelDelete.toLabelId: the label to move the annotations to is missing');
      s.need().deleteLabel(labelId, { mode, toLabelId });
    },

    // ---- annotations ----
    async annotationsList({ imageId }) { return s.need().listAnnotations(imageId).map(annotationView); },
    async annotationAddPrediction(o) {
      const { width, height } = imageSize(o.imageId);
      const { mask, kept } = s.sam.keptMask(o.imageId, o.resultId, o.candidate);
      if (mask.width === 0) throw new ApiInputError('annotationAddPrediction: that candidate mask is empty');
      const { points, box } = kept.prompt;
      const p = s.need();
      const id = p.addAnnotation({
        imageId: o.imageId, labelId: o.labelId, rle: rleFromMask(uncropMask(mask, width, height, 'annotationAddPrediction')),
        prompts: { points, ...(box ? { box } : {}) }, modelId: kept.modelId, score: kept.result.iouPredictions[o.candidate] ?? null,
      });
      return annotationView(p.getAnnotation(id));
    },
    async annotationsAcceptProposals(o) {
      const { modelId, result } = s.sam.keptProposals(o.imageId, o.proposalsId);
      for (const i of o.indices) if (i >= result.masks.length) throw new ApiInputError(`annotationsAcceptProposals.indices: ${i} is not a proposal of set ${o.proposalsId} (it has ${result.masks.length})`);
      // an empty mask is no annotation (the generator can keep one where its thresholds let it through)
      // each proposal once, however often it is named
      const chosen = [...new Set(o.indices)].filter((i) => rleArea(result.masks[i]!.rle) > 0);
      if (chosen.length === 0) return [];
      const p = s.need();
      const ids = p.addAnnotations(o.imageId, chosen.map((i) => {
        const m = result.masks[i]!;
        return { labelId: o.labelId, rle: m.rle, prompts: { points: [{ x: m.point[0], y: m.point[1], label: 1 }] }, modelId, score: m.predictedIou };
      }), 'autolabel.everything');
      return ids.map((id) => annotationView(p.getAnnotation(id)));
    },
    async annotationAddPolygon(o) {
      const { width, height } = imageSize(o.imageId);
      const rle = rleOfPolygons([{ outer: o.points.flat(), holes: [] }], width, height);
      if (rleArea(rle) === 0) {
        throw new ApiInputError('annotationAddPolygon: the polygon covers no pixel of the image');
      }
      const p = s.need();
      const id = p.addAnnotation({ imageId: o.imageId, labelId: o.labelId, rle, prompts: null });
      return annotationView(p.getAnnotation(id));
    },
    async annotationBrush({ imageId, annotationId, labelId, points, radiusPx, value }) {
      const { width, height } = imageSize(imageId);
      const p = s.need();
      const current = annotationId === null ? null : p.getAnnotation(annotationId);
      if (current && current.imageId !== imageId) throw new ApiInputError(`annotationBrush: annotation ${annotationId} is not on image ${imageId}`);
      if (!current && value === 0) throw new ApiInputError('annotationBrush: the eraser needs an annotation to erase from');
      // a box-only annotation has no pixels to erase: erasing would leave an empty mask and delete it
      if (current && !current.rle && value === 0) return annotationView(current);
      // a box-only annotation has no mask yet: the brush paints its first one
      const after = paintStrokeOnRle(current?.rle ?? null, width, height, points, radiusPx, value);
      const empty = rleArea(after) === 0;
      if (current && empty) { p.deleteAnnotation(current.id); return null; }
      if (empty) return null;
      if (current) return annotationView(p.updateAnnotation(current.id, { rle: after }));
      return annotationView(p.getAnnotation(p.addAnnotation({ imageId, labelId, rle: after, prompts: null })));
    },
    async annotationUpdate({ annotationId, ...change }) { return annotationView(s.need().updateAnnotation(annotationId, change)); },
    async annotationDelete({ annotationId }) { s.need().deleteAnnotation(annotationId); },
    async undo() { return s.need().undo(); },
    async redo() { return s.need().redo(); },
    async historyState() { return s.need().historyState(); },

    // ---- SAM ----
    async engineStatus() { return models.engineStatus(); },
    async samEncode({ imageId }) {
      // the window opens this image: its first hover or click should not wait for the decoder's image part
      const info = await s.sam.encode(s.need(), imageId);
      s.sam.prepareClicks(s.need(), imageId);
      return info;
    },
    async samPrefetch({ imageIds }) { s.sam.prefetch(s.need(), imageIds); },
    async samEverything({ imageId, pointsPerSide, predIouThresh, stabilityThresh }) {
      return s.sam.everything(s.need(), imageId, {
        ...(pointsPerSide === undefined ? {} : { pointsPerSide }),
        ...(predIouThresh === undefined ? {} : { predIouThresh }),
        ...(stabilityThresh === undefined ? {} : { stabilityScoreThresh: stabilityThresh }),
      });
    },
    async samEverythingCancel() { s.sam.cancelEverything(); },
    async boxesToMasks({ imageIds }) {
      const project = s.need();
      for (const id of imageIds ?? []) project.getImage(id); // an unknown id is named before anything runs
      return s.sam.boxesToMasks(project, imageIds);
    },
    async boxesToMasksCancel() { s.sam.cancelBoxes(); },
    async samPredict({ imageId, prompt, preview, candidates }) {
      const { width, height } = imageSize(imageId);
      checkInsideImage('samPredict.prompt', prompt, width, height);
      return s.sam.predict(s.need(), imageId, prompt, preview ?? false, candidates ?? 'all');
    },
    async samCandidateViews({ imageId, resultId }) {
      s.need();
      return s.sam.candidateViews(imageId, resultId);
    },

    // ---- models ----
    async modelsList() { return models.list(); },
    async modelImportCheckpoint(o) {
      return models.importCheckpoint(
        s.resolveChosen('checkpointPath', o.checkpointPath),
        o.configPath == null ? null : s.resolveChosen('configPath', o.configPath),
        o.name,
      );
    },
    async modelImportOnnx(o) {
      return models.importOnnx(s.resolveChosen('encoderPath', o.encoderPath), s.resolveChosen('decoderPath', o.decoderPath), o.name);
    },
    async modelSetActive({ modelId }) {
      await models.setActive(modelId);
      return models.engineStatus();
    },
    async modelQuantize({ modelId, bits, calibCount }) { return models.quantize(modelId, bits, calibCount); },
    async modelQuantizeCancel({ jobId }) { models.cancel(jobId); },
    async modelReport({ modelId }) { return models.report(modelId); },

    // ---- first-run setup ----
    async setupState() { return setup.state(); },
    async setupCatalog() { return setup.catalog(); },
    async setupRun(o) {
      return setup.run({
        catalogId: o.catalogId, bits: o.bits,
        localFile: o.localFile == null ? null : s.resolveChosen('localFile', o.localFile),
        quantize: o.quantize ?? true,
      });
    },
    async setupCancel() { setup.cancel(); },
    async setupSkip() { return setup.skip(); },
    async setupAnswerAlternative({ offerId, accept }) { return setup.answerAlternative(offerId, accept); },

    // ---- export ----
    async exportFormats() { return exportFormats(); },
    async exportRun({ format, outDir }) {
      const controller = new AbortController();
      exporting?.abort(); // one export at a time: a new one replaces one still running
      exporting = controller;
      try {
        return await runExport(s.need(), format, s.resolveChosen('outDir', outDir), (done, total) => ctx.emit({ type: 'export-progress', done, total }), controller.signal);
      } finally {
        if (exporting === controller) exporting = null;
      }
    },
    async exportCancel() { exporting?.abort(); },

    // ---- import ----
    async importFormats() { return importFormats(); },
    async importRun({ format, path }) {
      const project = s.need();
      const file = s.resolveChosen('path', path);
      if (importing) throw new Error('import: another import is running; wait for it or cancel it');
      const controller = new AbortController();
      importing = controller;
      try {
        return await runImport(project, format, file, (progress) => ctx.emit({ type: 'import-progress', ...progress }), controller.signal);
      } finally {
        importing = null;
      }
    },
    async importCancel() { importing?.abort(); },

    // ---- preferences ----
    async prefsGet() { return s.prefs.get().ui; },
    async prefsSet({ key, value }) {
      // the window keeps a handful of settings: a window gone wrong must not grow prefs.json without end
      if (!Object.hasOwn(s.prefs.get().ui, key) && Object.keys(s.prefs.get().ui).length >= MAX_UI_PREFS) {
        throw new ApiInputError(`prefsSet: already ${MAX_UI_PREFS} settings; "${key}" is not one of them`);
      }
      s.prefs.update((p) => { p.ui[key] = value; });
    },
  };

  // Every entry point parses its argument first: nothing unchecked reaches a service.
  const handlers = Object.fromEntries(API_METHODS.map((m) => [
    m, async (input: unknown) => (implementations[m] as (i: unknown) => Promise<unknown>)(API[m].input.parse(m, input)),
  ])) as Handlers;

  return { handlers, session: s };
}
