/**
 * The handler table: one function per method of the `Api` contract (preload/api.ts). The table's
 * type is mapped over `keyof Api`, so a method missing here fails to compile. Each handler takes
 * the renderer's raw argument as `unknown`, validates it (validate.ts) and only then calls the
 * services; paths must have come through a dialog (paths.ts).
 */
import { IMAGE_STATUSES } from '../project/types.ts';
import { maskFromPolygons, paintBrushStroke } from '../masks/index.ts';
import type { Api, SamPrompt } from '../../preload/api.ts';
import type { ApiContext } from '../services/context.ts';
import { exportFormats, runExport, EXPORT_FORMAT_IDS } from '../services/export.ts';
import { annotationView, maskFromRle, rleFromMask, uncropMask } from '../services/masks.ts';
import { ModelService, QUANT_BITS } from '../services/models.ts';
import { Session } from '../services/session.ts';
import { SetupService } from '../services/setup.ts';
import * as v from './validate.ts';

type Result<K extends keyof Api> = Awaited<ReturnType<Api[K]>>;
export type Handlers = { [K in keyof Api]: (input: unknown) => Promise<Result<K>> };

const MAX_POINTS = 64;

function filters(where: string, x: unknown) {
  return v.arr(where, x, (f) => {
    const o = v.obj(where, f);
    return { name: v.str(`${where}.name`, o.name, 200), extensions: v.arr(`${where}.extensions`, o.extensions, (e) => v.str(where, e, 20), 50) };
  }, 20);
}

function prompt(where: string, x: unknown, width: number, height: number): SamPrompt {
  const o = v.obj(where, x);
  const inside = (n: unknown, max: number, what: string) => v.num(`${where}.${what}`, n, 0, max);
  const points = v.arr(`${where}.points`, o.points, (p) => {
    const q = v.obj(`${where}.points[]`, p);
    return { x: inside(q.x, width, 'x'), y: inside(q.y, height, 'y'), label: v.int(`${where}.label`, q.label, 0, 1) as 0 | 1 };
  }, MAX_POINTS);
  const out: SamPrompt = { points };
  if (o.box !== undefined && o.box !== null) {
    const b = v.arr(`${where}.box`, o.box, (n, i) => inside(n, i % 2 ? height : width, 'box'), 4);
    if (b.length !== 4 || b[2]! < b[0]! || b[3]! < b[1]!) throw new v.ApiInputError(`${where}.box: expected [x0, y0, x1, y1] with x0 <= x1, y0 <= y1`);
    out.box = b as [number, number, number, number];
  }
  if (o.refine !== undefined && o.refine !== null) {
    const r = v.obj(`${where}.refine`, o.refine);
    out.refine = { resultId: v.int(`${where}.refine.resultId`, r.resultId, 1), candidate: v.int(`${where}.refine.candidate`, r.candidate, 0, 15) };
  }
  if (points.length === 0 && !out.box) throw new v.ApiInputError(`${where}: a prompt needs at least one point or a box`);
  return out;
}

export function createHandlers(ctx: ApiContext): { handlers: Handlers; session: Session } {
  const s = new Session(ctx);
  const models = new ModelService(s);
  const setup = new SetupService(s, models);

  const imageSize = (imageId: number) => {
    const im = s.need().getImage(imageId);
    if (im.error || im.width === null || im.height === null) throw new Error(`image ${im.path} cannot be used: ${im.error ?? 'unknown size'}`);
    return { width: im.width, height: im.height };
  };

  const handlers: Handlers = {
    // ---- dialogs: what the user picks becomes allowed ----
    async dialogOpenFiles(input) {
      const o = v.obj('dialogOpenFiles', input);
      const paths = await ctx.dialogs.openFiles({ title: v.str('title', o.title, 200), filters: filters('filters', o.filters), multiple: v.bool('multiple', o.multiple) });
      for (const p of paths) s.allowed.allowFile(p);
      return paths;
    },
    async dialogOpenFolder(input) {
      const o = v.obj('dialogOpenFolder', input);
      const path = await ctx.dialogs.openFolder({ title: v.str('title', o.title, 200) });
      if (path) s.allowed.allowFolder(path);
      return path;
    },
    async dialogSaveFile(input) {
      const o = v.obj('dialogSaveFile', input);
      const path = await ctx.dialogs.saveFile({ title: v.str('title', o.title, 200), filters: filters('filters', o.filters), defaultName: v.str('defaultName', o.defaultName, 255) });
      if (path) s.allowed.allowFile(path);
      return path;
    },

    // ---- projects ----
    async projectCreate(input) {
      return s.create(s.resolveChosen('projectCreate', v.str('path', v.obj('projectCreate', input).path)));
    },
    async projectOpen(input) {
      return s.open(s.resolveChosen('projectOpen', v.str('path', v.obj('projectOpen', input).path)));
    },
    async projectOpenSample() { return s.openSample(); },
    async projectCurrent() { return s.project ? s.info() : null; },
    async projectRecent() { return s.prefs.get().recentProjects; },
    async projectSetLastImage(input) {
      s.setLastImage(v.int('imageId', v.obj('projectSetLastImage', input).imageId, 1));
    },

    // ---- images ----
    async imagesAdd(input) {
      const paths = v.arr('paths', v.obj('imagesAdd', input).paths, (p) => s.resolveChosen('imagesAdd', v.str('path', p)));
      return s.need().addImages(paths, { onProgress: (progress) => ctx.emit({ type: 'images-progress', progress }) });
    },
    async imagesAddFolder(input) {
      const path = s.resolveChosen('imagesAddFolder', v.str('path', v.obj('imagesAddFolder', input).path));
      return s.need().addImages([path], { onProgress: (progress) => ctx.emit({ type: 'images-progress', progress }) });
    },
    async imagesList(input) {
      const o = v.obj('imagesList', input);
      return s.need().listImages({
        offset: v.int('offset', o.offset, 0), limit: v.int('limit', o.limit, 1, 10_000),
        status: v.optional(o.status, (x) => v.oneOf('status', x, IMAGE_STATUSES)),
        labelId: v.optional(o.labelId, (x) => v.int('labelId', x, 1)),
      });
    },
    async imageGet(input) { return s.need().getImage(v.int('imageId', v.obj('imageGet', input).imageId, 1)); },
    async imageSetStatus(input) {
      const o = v.obj('imageSetStatus', input);
      s.need().setImageStatus(v.int('imageId', o.imageId, 1), v.oneOf('status', o.status, IMAGE_STATUSES));
    },

    // ---- labels ----
    async labelsList() { return s.need().listLabels(); },
    async labelCreate(input) {
      const o = v.obj('labelCreate', input);
      return s.need().addLabel({
        name: v.str('name', o.name, 200),
        ...(o.color !== undefined ? { color: v.color('color', o.color) } : {}),
        hotkey: v.nullable(o.hotkey, (x) => v.oneOf('hotkey', x, ['1', '2', '3', '4', '5', '6', '7', '8', '9'])),
      });
    },
    async labelUpdate(input) {
      const o = v.obj('labelUpdate', input);
      return s.need().updateLabel(v.int('labelId', o.labelId, 1), {
        ...(o.name !== undefined ? { name: v.str('name', o.name, 200) } : {}),
        ...(o.color !== undefined ? { color: v.color('color', o.color) } : {}),
        ...(o.hotkey !== undefined ? { hotkey: v.nullable(o.hotkey, (x) => v.oneOf('hotkey', x, ['1', '2', '3', '4', '5', '6', '7', '8', '9'])) } : {}),
      });
    },
    async labelDelete(input) {
      const o = v.obj('labelDelete', input);
      s.need().deleteLabel(v.int('labelId', o.labelId, 1), { mode: v.oneOf('mode', o.mode, ['refuse', 'delete-annotations'] as const) });
    },

    // ---- annotations ----
    async annotationsList(input) {
      return s.need().listAnnotations(v.int('imageId', v.obj('annotationsList', input).imageId, 1)).map(annotationView);
    },
    async annotationAddPrediction(input) {
      const o = v.obj('annotationAddPrediction', input);
      const imageId = v.int('imageId', o.imageId, 1);
      const { width, height } = imageSize(imageId);
      const { mask, kept } = s.sam.keptMask(imageId, v.int('resultId', o.resultId, 1), v.int('candidate', o.candidate, 0, 15));
      if (mask.width === 0) throw new v.ApiInputError('annotationAddPrediction: that candidate mask is empty');
      const candidate = kept.result.masks.indexOf(mask);
      const { points, box } = kept.prompt;
      const p = s.need();
      const id = p.addAnnotation({
        imageId, labelId: v.int('labelId', o.labelId, 1), rle: rleFromMask(uncropMask(mask, width, height, 'annotationAddPrediction')),
        prompts: { points, ...(box ? { box } : {}) }, modelId: kept.modelId, score: kept.result.iouPredictions[candidate] ?? null,
      });
      return annotationView(p.getAnnotation(id));
    },
    async annotationsAcceptProposals(input) {
      const o = v.obj('annotationsAcceptProposals', input);
      const imageId = v.int('imageId', o.imageId, 1);
      const labelId = v.int('labelId', o.labelId, 1);
      const { modelId, result } = s.sam.keptProposals(imageId, v.int('proposalsId', o.proposalsId, 1));
      const indices = v.arr('indices', o.indices, (x) => v.int('indices[]', x, 0, result.masks.length - 1), 10_000);
      if (indices.length === 0) return [];
      const p = s.need();
      const ids = p.addAnnotations(imageId, indices.map((i) => {
        const m = result.masks[i]!;
        return { labelId, rle: m.rle, prompts: { points: [{ x: m.point[0], y: m.point[1], label: 1 }] }, modelId, score: m.predictedIou };
      }), 'autolabel.everything');
      return ids.map((id) => annotationView(p.getAnnotation(id)));
    },
    async annotationAddPolygon(input) {
      const o = v.obj('annotationAddPolygon', input);
      const imageId = v.int('imageId', o.imageId, 1);
      const { width, height } = imageSize(imageId);
      const points = v.arr('points', o.points, (q) => v.point2('points[]', q), 100_000);
      if (points.length < 3) throw new v.ApiInputError('annotationAddPolygon: a polygon needs at least 3 points');
      const mask = maskFromPolygons([{ outer: points.flat(), holes: [] }], width, height);
      const rle = rleFromMask(mask);
      if (rle.counts === rleFromMask({ width, height, data: new Uint8Array(width * height) }).counts) {
        throw new v.ApiInputError('annotationAddPolygon: the polygon covers no pixel of the image');
      }
      const p = s.need();
      const id = p.addAnnotation({ imageId, labelId: v.int('labelId', o.labelId, 1), rle, prompts: null });
      return annotationView(p.getAnnotation(id));
    },
    async annotationBrush(input) {
      const o = v.obj('annotationBrush', input);
      const imageId = v.int('imageId', o.imageId, 1);
      const { width, height } = imageSize(imageId);
      const annotationId = v.nullable(o.annotationId, (x) => v.int('annotationId', x, 1));
      const points = v.arr('points', o.points, (q) => v.point2('points[]', q), 100_000);
      const radiusPx = v.num('radiusPx', o.radiusPx, 0.5, 2000);
      const value = v.int('value', o.value, 0, 1) as 0 | 1;
      const labelId = v.int('labelId', o.labelId, 1);
      const p = s.need();
      const current = annotationId === null ? null : p.getAnnotation(annotationId);
      if (current && current.imageId !== imageId) throw new v.ApiInputError(`annotationBrush: annotation ${annotationId} is not on image ${imageId}`);
      if (!current && value === 0) throw new v.ApiInputError('annotationBrush: the eraser needs an annotation to erase from');
      // a box-only annotation has no mask yet: the brush paints its first one
      const before = current?.rle ? maskFromRle(current.rle) : { width, height, data: new Uint8Array(width * height) };
      const after = paintBrushStroke(before, points, radiusPx, value);
      const empty = !after.data.some((x) => x);
      if (current && empty) { p.deleteAnnotation(current.id); return null; }
      if (empty) return null;
      if (current) return annotationView(p.updateAnnotation(current.id, { rle: rleFromMask(after) }));
      return annotationView(p.getAnnotation(p.addAnnotation({ imageId, labelId, rle: rleFromMask(after), prompts: null })));
    },
    async annotationUpdate(input) {
      const o = v.obj('annotationUpdate', input);
      return annotationView(s.need().updateAnnotation(v.int('annotationId', o.annotationId, 1), {
        ...(o.labelId !== undefined ? { labelId: v.int('labelId', o.labelId, 1) } : {}),
        ...(o.hidden !== undefined ? { hidden: v.bool('hidden', o.hidden) } : {}),
      }));
    },
    async annotationDelete(input) {
      s.need().deleteAnnotation(v.int('annotationId', v.obj('annotationDelete', input).annotationId, 1));
    },
    async undo() { return s.need().undo(); },
    async redo() { return s.need().redo(); },
    async historyState() { return s.need().historyState(); },

    // ---- SAM ----
    async engineStatus() { return models.engineStatus(); },
    async samEncode(input) {
      return s.sam.encode(s.need(), v.int('imageId', v.obj('samEncode', input).imageId, 1));
    },
    async samPrefetch(input) {
      s.sam.prefetch(s.need(), v.arr('imageIds', v.obj('samPrefetch', input).imageIds, (x) => v.int('imageId', x, 1), 1000));
    },
    async samEverything(input) {
      const o = v.obj('samEverything', input);
      const pointsPerSide = v.optional(o.pointsPerSide, (x) => v.int('pointsPerSide', x, 1, 64));
      const predIouThresh = v.optional(o.predIouThresh, (x) => v.num('predIouThresh', x, 0, 1));
      const stabilityScoreThresh = v.optional(o.stabilityThresh, (x) => v.num('stabilityThresh', x, 0, 1));
      return s.sam.everything(s.need(), v.int('imageId', o.imageId, 1), {
        ...(pointsPerSide === undefined ? {} : { pointsPerSide }),
        ...(predIouThresh === undefined ? {} : { predIouThresh }),
        ...(stabilityScoreThresh === undefined ? {} : { stabilityScoreThresh }),
      });
    },
    async samPredict(input) {
      const o = v.obj('samPredict', input);
      const imageId = v.int('imageId', o.imageId, 1);
      const { width, height } = imageSize(imageId);
      return s.sam.predict(s.need(), imageId, prompt('prompt', o.prompt, width, height), v.optional(o.preview, (x) => v.bool('preview', x)) ?? false);
    },

    // ---- models ----
    async modelsList() { return models.list(); },
    async modelImportCheckpoint(input) {
      const o = v.obj('modelImportCheckpoint', input);
      return models.importCheckpoint(
        s.resolveChosen('checkpointPath', v.str('checkpointPath', o.checkpointPath)),
        v.nullable(o.configPath, (x) => s.resolveChosen('configPath', v.str('configPath', x))),
        v.optional(o.name, (x) => v.str('name', x, 200)),
      );
    },
    async modelImportOnnx(input) {
      const o = v.obj('modelImportOnnx', input);
      return models.importOnnx(
        s.resolveChosen('encoderPath', v.str('encoderPath', o.encoderPath)),
        s.resolveChosen('decoderPath', v.str('decoderPath', o.decoderPath)),
        v.optional(o.name, (x) => v.str('name', x, 200)),
      );
    },
    async modelSetActive(input) {
      await models.setActive(v.str('modelId', v.obj('modelSetActive', input).modelId, 200));
      return models.engineStatus();
    },
    async modelQuantize(input) {
      const o = v.obj('modelQuantize', input);
      return models.quantize(v.str('modelId', o.modelId, 200), v.oneOf('bits', o.bits, QUANT_BITS), v.optional(o.calibCount, (x) => v.int('calibCount', x, 1, 10_000)));
    },
    async modelQuantizeCancel(input) { models.cancel(v.str('jobId', v.obj('modelQuantizeCancel', input).jobId, 200)); },
    async modelReport(input) { return models.report(v.str('modelId', v.obj('modelReport', input).modelId, 200)); },

    // ---- first-run setup ----
    async setupState() { return setup.state(); },
    async setupCatalog() { return setup.catalog(); },
    async setupRun(input) {
      const o = v.obj('setupRun', input);
      return setup.run({
        catalogId: v.str('catalogId', o.catalogId, 200),
        bits: v.oneOf('bits', o.bits, QUANT_BITS),
        localFile: v.nullable(o.localFile, (x) => s.resolveChosen('localFile', v.str('localFile', x))),
        quantize: v.optional(o.quantize, (x) => v.bool('quantize', x)) ?? true,
      });
    },
    async setupCancel() { setup.cancel(); },
    async setupSkip() { return setup.skip(); },

    // ---- export ----
    async exportFormats() { return exportFormats(); },
    async exportRun(input) {
      const o = v.obj('exportRun', input);
      return runExport(s.need(), v.oneOf('format', o.format, EXPORT_FORMAT_IDS), s.resolveChosen('outDir', v.str('outDir', o.outDir)),
        (done, total) => ctx.emit({ type: 'export-progress', done, total }));
    },

    // ---- preferences ----
    async prefsGet() { return s.prefs.get().ui; },
    async prefsSet(input) {
      const o = v.obj('prefsSet', input);
      const key = v.str('key', o.key, 100);
      const value = typeof o.value === 'number' ? v.num('value', o.value) : typeof o.value === 'boolean' ? o.value : v.str('value', o.value, 1000);
      s.prefs.update((p) => { p.ui[key] = value; });
    },
  };

  return { handlers, session: s };
}
