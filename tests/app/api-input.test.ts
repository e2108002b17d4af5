/**
 * The API handlers refuse bad input from the window before any service runs: each refusal names
 * the method and the field, and the project is left as it was. Run against real handlers over a
 * real project file, also through the rpc.ts answer main/app gives the IPC channel.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandlers, type Handlers } from '../../main/api/handlers.ts';
import type { Session } from '../../main/services/session.ts';
import { createEngine, type Engine } from '../../main/sam/engine.ts';
import { answer } from '../../preload/contract/rpc.ts';

const PHOTO = join(import.meta.dirname, '../fixtures/photos/coins.png');

let dir: string;
let engine: Engine;
let handlers: Handlers;
let session: Session;
let imageId: number;
let width: number;
let labelId: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'api-input-'));
  engine = await createEngine({ threads: 1 });
  ({ handlers, session } = createHandlers({
    appDataDir: join(dir, 'appdata'), resourcesDir: join(dir, 'resources'), engine, executionProvider: 'cpu',
    emit: () => undefined, imageUrlBase: () => 'test://',
    dialogs: { openFiles: async () => [PHOTO], openFolder: async () => null, saveFile: async () => join(dir, 'p.ptq4sam') },
  }));
  const path = await handlers.dialogSaveFile({ title: 'project', filters: [], defaultName: 'p.ptq4sam' });
  await handlers.projectCreate({ path });
  const [photo] = await handlers.dialogOpenFiles({ title: 'images', filters: [{ name: 'Images', extensions: ['png'] }], multiple: false });
  [imageId] = (await handlers.imagesAdd({ paths: [photo] })).added as [number];
  width = (await handlers.imageGet({ imageId })).width!;
  labelId = (await handlers.labelCreate({ name: 'coin', hotkey: '1' })).id;
});

afterAll(async () => {
  session?.close();
  await engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('input refused at the API boundary', () => {
  it('names the method and field, and changes nothing', async () => {
    await expect(handlers.labelCreate({ name: 'bad', color: 'blue' })).rejects.toThrow('labelCreate.color: "blue" is not a colour like #12ab9f');
    await expect(handlers.labelUpdate({ labelId, hotkey: 'x' })).rejects.toThrow('labelUpdate.hotkey: "x" is not one of 1, 2, 3, 4, 5, 6, 7, 8, 9');
    expect((await handlers.labelsList(undefined)).map((l) => [l.name, l.hotkey])).toEqual([['coin', '1']]);
    await expect(handlers.annotationAddPolygon({ imageId, labelId, points: [[1, 1], [5, 5]] }))
      .rejects.toThrow('annotationAddPolygon.points: a polygon needs at least 3 points');
    await expect(handlers.imageSetStatus({ imageId, status: 'finished' })).rejects.toThrow('imageSetStatus.status: "finished" is not one of new, in_progress, done, skipped');
    expect((await handlers.imageGet({ imageId })).status).toBe('new');
    expect(await handlers.annotationsList({ imageId })).toEqual([]);
    expect((await handlers.historyState(undefined)).undo?.kind).toBe('label.add');
  });

  it('refuses to remember an image the project does not have as the last one opened', async () => {
    await expect(handlers.projectSetLastImage({ imageId: 999_999 })).rejects.toThrow('no image with id 999999 in');
    await handlers.projectSetLastImage({ imageId });
  });

  it('moves a label\'s annotations only to a label it is told', async () => {
    await expect(handlers.labelDelete({ labelId, mode: 'reassign' })).rejects.toThrow('labelDelete.toLabelId: the label to move the annotations to is missing');
    await expect(handlers.labelDelete({ labelId, mode: 'reassign', toLabelId: labelId })).rejects.toThrow('cannot be reassigned to itself');
    expect((await handlers.labelsList(undefined)).map((l) => l.id)).toContain(labelId);
  });

  it('keeps at most 200 window settings, still updating the ones it has', async () => {
    for (let i = 0; i < 200; i++) await handlers.prefsSet({ key: `k${i}`, value: i });
    await expect(handlers.prefsSet({ key: 'one-more', value: 1 })).rejects.toThrow('prefsSet: already 200 settings; "one-more" is not one of them');
    await handlers.prefsSet({ key: 'k7', value: 'seven' });
    const prefs = await handlers.prefsGet(undefined);
    expect([Object.keys(prefs).length, prefs.k7, prefs['one-more']]).toEqual([200, 'seven', undefined]);
  });

  it('checks a prompt against the size of its image', async () => {
    await expect(handlers.samPredict({ imageId, prompt: { points: [{ x: width + 1, y: 1, label: 1 }] } }))
      .rejects.toThrow(`samPredict.prompt.points[0].x: ${width + 1} is not a number in [0, ${width}]`);
    await expect(handlers.samPredict({ imageId, prompt: { points: [], box: [0, 0, width + 5, 1] } }))
      .rejects.toThrow(`samPredict.prompt.box[2]: ${width + 5} is not a number in [0, ${width}]`);
    await expect(handlers.samPredict({ imageId, prompt: { points: [] } })).rejects.toThrow('samPredict.prompt: a prompt needs at least one point or a box');
  });

  it('keeps the rules that need the session: a path must come from a dialog', async () => {
    await expect(handlers.projectOpen({ path: '/etc/passwd' })).rejects.toThrow('was not chosen by the user');
    await expect(handlers.projectOpen({})).rejects.toThrow('projectOpen.path: expected a string of at most 4096 characters');
  });

  it('answers the IPC channel with the refusal as an error response', async () => {
    expect(await answer(handlers, { kind: 'request', id: 4, method: 'imageGet', args: [{ imageId: 0 }] })).toEqual({
      kind: 'response', id: 4, error: { message: 'imageGet.imageId: 0 is not an integer in [1, 9007199254740991]', code: null },
    });
    expect(await answer(handlers, { kind: 'request', id: 5, method: 'imageGet', args: [{ imageId }] }))
      .toMatchObject({ kind: 'response', id: 5, result: { id: imageId, width } });
    expect(await answer(handlers, { kind: 'request', id: 6, method: 'constructor', args: [] }))
      .toEqual({ kind: 'response', id: 6, error: { message: 'unknown method constructor', code: null } });
  });
});
