/**
 * Automatic labelling of a whole project, image after image, for the CLI and the app:
 * - boxes: every box-only annotation (of one label, of chosen images) gets the mask SAM gives
 *   for its box, the same mask `segment` would give; the image is encoded once (through the
 *   project's embedding cache) and its boxes decoded in batches; the masks replace the boxes in
 *   place, one undo step per image. A rerun finds only the boxes still without a mask.
 * - everything: the automatic mask generator's proposals of each image become annotations of
 *   one label, one undo step per image. A rerun skips the images whose earlier run is in effect
 *   (not undone); an image that got no proposal is looked at again.
 * Work is committed image by image, so a run killed half-way keeps what it finished and a rerun
 * never writes a mask twice.
 */
import type { BoxMask, Project } from '../project/index.ts';
import type { AutomaticOptions } from '../sam/automatic.ts';
import { warmEmbedding } from '../sam/embedding-cache.ts';
import { UNUSABLE_IMAGE } from '../sam/image/index.ts';
import { rleArea } from '../masks/index.ts';
import type { Engine, LoadedModel } from '../sam/engine.ts';

/** Boxes decoded per engine call. */
const BOX_BATCH = 32;
export const EVERYTHING_EDIT = 'autolabel.everything';

export interface AutolabelProgress {
  /** images finished, of `total` */
  done: number;
  total: number;
  created: number;
  masksPerSecond: number;
  /** estimated seconds left; undefined before the first image is done */
  etaSeconds: number | undefined;
  /** everything mode: grid points decoded in the image in progress, after each batch */
  points?: { done: number; total: number };
}

export interface AutolabelOptions {
  mode: 'boxes' | 'everything';
  /** boxes: only boxes of this label; everything: the label of the new masks (required) */
  labelId?: number;
  /** only these images (default: every image of the project) */
  imageIds?: number[];
  /** the generator's settings (everything mode) */
  everything?: Partial<AutomaticOptions>;
  onProgress?: (progress: AutolabelProgress) => void;
  /** an image left out of the run: its project path and why (missing, undecodable, too thin for SAM) */
  onSkipped?: (path: string, why: string) => void;
  /**
   * checked between images: the image in progress is finished and committed first, except in
   * everything mode, where its run ends at once and the image is left for the next run
   */
  signal?: AbortSignal;
}

export interface AutolabelResult {
  /** images labelled in this run */
  images: number;
  /** masks stored */
  created: number;
  /**
   * boxes mode: boxes left as they were (image unreadable, missing or unusable, empty mask);
   * everything mode: images left out (unreadable, missing, unusable, already done) and empty masks
   */
  skipped: number;
  seconds: number;
}

export async function autolabelProject(project: Project, engine: Engine, model: LoadedModel, opts: AutolabelOptions): Promise<AutolabelResult> {
  const t0 = performance.now();
  const result: AutolabelResult = { images: 0, created: 0, skipped: 0, seconds: 0 };
  let todo: number[];
  if (opts.mode === 'boxes') {
    todo = project.imagesWithBoxes({ ...(opts.imageIds ? { imageIds: opts.imageIds } : {}), ...(opts.labelId !== undefined ? { labelId: opts.labelId } : {}) });
  } else {
    if (opts.labelId === undefined) throw new Error('segment everything needs the label to give the new masks');
    const done = new Set(project.imagesEditedBy(EVERYTHING_EDIT));
    const wanted = opts.imageIds ?? allImageIds(project);
    todo = wanted.filter((id) => !done.has(id));
    result.skipped += wanted.length - todo.length;
  }
  const report = (done: number, points?: { done: number; total: number }) => {
    const seconds = (performance.now() - t0) / 1000;
    opts.onProgress?.({
      done, total: todo.length, created: result.created, masksPerSecond: seconds > 0 ? result.created / seconds : 0,
      etaSeconds: done > 0 && done < todo.length ? (seconds / done) * (todo.length - done) : undefined,
      ...(points ? { points } : {}),
    });
  };
  report(0);
  for (const [n, imageId] of todo.entries()) {
    if (opts.signal?.aborted) break;
    const image = project.getImage(imageId);
    const file = image.error === null && image.width !== null && image.sha256 !== null ? project.resolveImagePath(image) : null;
    const boxes = opts.mode === 'boxes' ? project.listBoxAnnotations(imageId, opts.labelId) : [];
    const skip = (why: string) => {
      result.skipped += opts.mode === 'boxes' ? boxes.length : 1;
      opts.onSkipped?.(image.path, why);
    };
    if (file === null) {
      skip(image.error ?? 'the file is missing');
    } else {
      const target = { file, hash: image.sha256!, width: image.width!, height: image.height! };
      try {
        await warmEmbedding(engine, model, project, target);
      } catch (err) {
        // an image the model cannot take (undecodable pixels, too thin for SAM) is left out; the run goes on
        if ((err as { code?: unknown }).code !== UNUSABLE_IMAGE) throw err;
        skip((err as Error).message);
        report(n + 1);
        continue;
      }
      if (opts.mode === 'boxes') {
        const masks: BoxMask[] = [];
        for (let start = 0; start < boxes.length; start += BOX_BATCH) {
          const batch = boxes.slice(start, start + BOX_BATCH);
          const decoded = await engine.decodeBoxes(model, file, batch.map((a) => [a.bbox[0], a.bbox[1], a.bbox[0] + a.bbox[2], a.bbox[1] + a.bbox[3]]), { imageHash: target.hash });
          decoded.masks.forEach((m, i) => {
            if (m.empty) result.skipped++;
            else masks.push({ annotationId: batch[i]!.id, rle: m.rle, modelId: model.info.id, score: m.score });
          });
        }
        project.replaceBoxesWithMasks(imageId, masks);
        result.created += masks.length;
      } else {
        // a stop ends the image's run at once (half a minute of decoding): nothing of it was written,
        // and the next run does the image again
        const found = await engine.segmentEverything(model, file, opts.everything ?? {}, {
          imageHash: target.hash, ...(opts.signal ? { signal: opts.signal } : {}), onProgress: (done, total) => report(n, { done, total }),
        })
          .catch((err: Error) => { if (opts.signal?.aborted) return null; throw err; });
        if (!found) break;
        // an empty mask is no annotation (the generator keeps one where its thresholds let it through);
        // no proposals, no edit: an empty undo step would undo nothing (a rerun looks at the image again)
        const kept = found.masks.filter((m) => rleArea(m.rle) > 0);
        result.skipped += found.masks.length - kept.length;
        const ids = kept.length === 0 ? [] : project.addAnnotations(imageId, kept.map((m) => ({
          labelId: opts.labelId!, rle: m.rle, prompts: { points: [{ x: m.point[0], y: m.point[1], label: 1 }] }, modelId: model.info.id, score: m.predictedIou,
        })), EVERYTHING_EDIT);
        result.created += ids.length;
      }
      result.images++;
    }
    report(n + 1);
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

function allImageIds(project: Project): number[] {
  const ids: number[] = [];
  for (let offset = 0; ; offset += 1000) {
    const { items } = project.listImages({ offset, limit: 1000 });
    ids.push(...items.map((i) => i.id));
    if (items.length < 1000) return ids;
  }
}
