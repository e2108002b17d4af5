/**
 * "Segment everything" through the API handlers (no window): proposals come back best first as
 * views with their scores, with progress events on the way; accepting some stores them with the
 * label in one undo step, the engine's proposals are those of the generator run directly, and a
 * run can be cancelled part-way.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandlers } from '../../main/api/handlers.ts';
import { createEngine, type Engine } from '../../main/sam/engine.ts';
import type { ApiEvent } from '../../preload/contract/index.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/sam-tiny');

let dir: string;
let engine: Engine;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'everything-api-'));
  mkdirSync(join(dir, 'resources', 'samples'), { recursive: true });
  engine = await createEngine({ threads: 1 });
});

afterAll(async () => {
  await engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('segment everything through the API', () => {
  it('finds proposals with progress, accepts the chosen ones with a label as one undo step, refuses a stale set, cancels a run', async () => {
    const events: ApiEvent[] = [];
    const { handlers } = createHandlers({
      appDataDir: join(dir, 'appdata'), resourcesDir: join(dir, 'resources'), engine, executionProvider: 'cpu',
      emit: (e) => events.push(e), imageUrlBase: () => 'test://',
      // the handlers take only paths the user chose in a dialog: these answer as a user would
      dialogs: { openFiles: async () => chosen.shift() ?? [], openFolder: async () => null, saveFile: async () => join(dir, 'p.ptq4sam') },
    });
    copyFileSync(join(FIXTURES, 'landscape.png'), join(dir, 'landscape.png'));
    const chosen = [[join(FIXTURES, 'sam_tiny.pth')], [join(FIXTURES, 'config.json')], [join(dir, 'landscape.png')]];
    const pick = async () => (await handlers.dialogOpenFiles({ title: 'file', filters: [], multiple: false }))[0]!;
    const model = await handlers.modelImportCheckpoint({ checkpointPath: await pick(), configPath: await pick() });
    await handlers.modelSetActive({ modelId: model.id });
    await handlers.projectCreate({ path: (await handlers.dialogSaveFile({ title: 'project', filters: [], defaultName: 'p.ptq4sam' }))! });
    await handlers.imagesAdd({ paths: [await pick()] });
    const label = await handlers.labelCreate({ name: 'thing' });

    // sam-tiny's random weights score about 0.1: at the 0.88 default nothing would pass
    const options = { pointsPerSide: 3, predIouThresh: 0.05, stabilityScoreThresh: 0.5 };
    const set = await handlers.samEverything({ imageId: 1, pointsPerSide: 3, predIouThresh: 0.05, stabilityThresh: 0.5 });
    const direct = await engine.segmentEverything(model.id, join(dir, 'landscape.png'), options);
    expect(set.proposals.length).toBeGreaterThan(0);
    // progress after each batch of grid points, ending with all 9
    const progress = events.filter((e) => e.type === 'everything-progress');
    expect(progress.at(-1)).toEqual({ type: 'everything-progress', imageId: 1, done: 9, total: 9 });
    expect(progress.every((e, i) => i === 0 || (e.type === 'everything-progress' && e.done >= (progress[i - 1] as { done: number }).done))).toBe(true);
    // the slider starts at SAM's own generator threshold
    expect(set.defaultMinScore).toBe(0.88);
    expect(set.proposals.map((p) => [p.index, p.score, p.stability])).toEqual(direct.masks.map((m, i) => [i, m.predictedIou, m.stabilityScore]));
    await expect(handlers.annotationsAcceptProposals({ imageId: 1, labelId: label.id, proposalsId: set.proposalsId + 99, indices: [0] }))
      .rejects.toThrow(/no longer kept; find them again/);
    const added = await handlers.annotationsAcceptProposals({ imageId: 1, labelId: label.id, proposalsId: set.proposalsId, indices: [0] });
    expect(added.map((a) => [a.labelId, a.score, a.boxOnly, a.area])).toEqual([[label.id, set.proposals[0]!.score, false, expect.any(Number)]]);
    expect(added[0]!.mask).toEqual(set.proposals[0]!.mask);
    expect((await handlers.historyState(undefined)).undo).toEqual({ kind: 'autolabel.everything', imageId: 1 });
    await handlers.undo(undefined);
    expect(await handlers.annotationsList({ imageId: 1 })).toEqual([]);

    // a run cancelled part-way rejects with "cancelled"; the next one runs whole
    events.length = 0;
    const long = handlers.samEverything({ imageId: 1, pointsPerSide: 16 });
    await expect.poll(() => events.some((e) => e.type === 'everything-progress' && e.done > 0), { timeout: 60_000 }).toBe(true);
    await handlers.samEverythingCancel(undefined);
    await expect(long).rejects.toThrow(/cancelled/);
    const last = events.filter((e) => e.type === 'everything-progress').at(-1) as { done: number; total: number };
    expect(last.total).toBe(256);
    expect(last.done).toBeLessThan(256);
    const again = await handlers.samEverything({ imageId: 1, pointsPerSide: 2 });
    expect(again.proposalsId).toBeGreaterThan(set.proposalsId);
  }, 300_000);
});
