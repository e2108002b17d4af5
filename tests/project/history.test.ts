import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProject, openProject, type Project } from '../../main/project/index.ts';
import { rectRle, tempDir, writeImage } from './helpers.ts';

let dir: string;
let cleanup: () => void;
let project: Project;
let label: number;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  project = createProject(join(dir, 'p.db'));
  await writeImage(join(dir, 'a.png'), 10, 10);
  await writeImage(join(dir, 'b.png'), 10, 10);
  await project.addImages([join(dir, 'a.png'), join(dir, 'b.png')]);
  label = project.addLabel({ name: 'cat' }).id;
});
afterEach(() => {
  project.close();
  cleanup();
});

const add = (imageId: number, x: number) => project.addAnnotation({ imageId, labelId: label, rle: rectRle(10, 10, [x, 0, 2, 2]), score: 0.9 });

describe('undo and redo', () => {
  it('undo reverts the latest edit whichever image it was on, and redo brings it back', () => {
    const onA = add(1, 0);
    const onB = add(2, 4);
    // the user has switched back to image 1: undo still takes back the edit on image 2 first
    expect(project.undo()).toEqual({ entryId: expect.any(Number), kind: 'annotation.add', imageId: 2, annotationIds: [onB], labelIds: [] });
    expect(project.listAnnotations(2)).toEqual([]);
    expect(project.undo()).toMatchObject({ imageId: 1, annotationIds: [onA] });
    expect(project.listAnnotations(1)).toEqual([]);
    expect(project.redo()).toMatchObject({ imageId: 1, annotationIds: [onA] });
    expect(project.redo()).toMatchObject({ imageId: 2, annotationIds: [onB] });
    expect(project.listAnnotations(1).map((a) => a.id)).toEqual([onA]);
    expect(project.listAnnotations(2).map((a) => a.id)).toEqual([onB]);
  });

  it('a label made for the next annotation is one undo step with it, and only with an annotation of that label', () => {
    const first = project.addLabel({ name: 'object' }, { forAnnotation: true });
    const id = project.addAnnotation({ imageId: 1, labelId: first.id, rle: rectRle(10, 10, [0, 0, 2, 2]) });
    expect(project.historyState().undo).toEqual({ kind: 'annotation.add', imageId: 1 });
    expect(project.undo()).toMatchObject({ kind: 'annotation.add', annotationIds: [id], labelIds: [first.id] });
    expect(project.listLabels().map((l) => l.name)).toEqual(['cat']);
    expect(project.listAnnotations(1)).toEqual([]);
    // the step before it is the earlier one (the label "cat"), not a leftover label step
    expect(project.historyState().undo).toEqual({ kind: 'label.add', imageId: null });
    expect(project.redo()).toMatchObject({ annotationIds: [id], labelIds: [first.id] });
    expect(project.listLabels().map((l) => l.name)).toEqual(['cat', 'object']);
    // an annotation of another label leaves such a label step alone
    const other = project.addLabel({ name: 'dog' }, { forAnnotation: true });
    add(2, 0);
    expect(project.undo()).toMatchObject({ kind: 'annotation.add', labelIds: [] });
    expect(project.undo()).toMatchObject({ kind: 'label.add.implied', labelIds: [other.id] });
  });

  it('gives a batch of annotations one time: the clock does not run ahead a millisecond a row', () => {
    const before = Date.now();
    const ids = project.addAnnotations(1, Array.from({ length: 3000 }, (_, i) => ({ labelId: label, rle: null, bbox: [i % 8, 0, 1, 1] as [number, number, number, number] })));
    const times = new Set(ids.map((id) => project.getAnnotation(id).createdAt));
    expect(times.size).toBe(1);
    expect([...times][0]!).toBeLessThanOrEqual(Date.now() + 5);
    expect([...times][0]!).toBeGreaterThanOrEqual(before);
  });

  it('the history survives closing and reopening the project', () => {
    const id = add(1, 0);
    project.updateAnnotation(id, { rle: rectRle(10, 10, [5, 5, 3, 3]) });
    project.close();
    project = openProject(join(dir, 'p.db'));
    expect(project.historyState()).toEqual({ undo: { kind: 'annotation.mask', imageId: 1 }, redo: null });
    project.undo();
    expect(project.getAnnotation(id)).toMatchObject({ bbox: [0, 0, 2, 2], area: 4 });
    project.close();
    project = openProject(join(dir, 'p.db'));
    expect(project.redo()).toMatchObject({ kind: 'annotation.mask', annotationIds: [id] });
    expect(project.getAnnotation(id)).toMatchObject({ bbox: [5, 5, 3, 3], area: 9 });
  });

  it('a new edit after undos discards what could have been redone', () => {
    add(1, 0);
    add(1, 4);
    project.undo();
    add(2, 6);
    expect(project.historyState().redo).toBeNull();
    expect(project.redo()).toBeNull();
    expect(project.stats().annotations).toBe(2);
  });

  it('undo with nothing to undo returns null and changes nothing', () => {
    project.undo(); // the label
    expect(project.undo()).toBeNull();
    expect(project.stats().labels).toBe(0);
  });

  it('a mask edit recomputes bbox and area and its undo restores the old mask exactly', () => {
    const id = add(1, 0);
    const original = project.getAnnotation(id);
    const edited = project.updateAnnotation(id, { rle: rectRle(10, 10, [3, 4, 5, 2]) });
    expect(edited).toMatchObject({ bbox: [3, 4, 5, 2], area: 10 });
    project.undo();
    expect(project.getAnnotation(id)).toEqual(original);
  });

  it('hiding and relabelling are undoable edits of their own', () => {
    const id = add(1, 0);
    const dog = project.addLabel({ name: 'dog' }).id;
    project.updateAnnotation(id, { hidden: true });
    project.updateAnnotation(id, { labelId: dog });
    expect(project.getAnnotation(id)).toMatchObject({ hidden: true, labelId: dog });
    expect(project.undo()?.kind).toBe('annotation.label');
    expect(project.undo()?.kind).toBe('annotation.visibility');
    expect(project.getAnnotation(id)).toMatchObject({ hidden: false, labelId: label });
  });

  it('a deleted annotation comes back with its id by undo', () => {
    const id = add(1, 0);
    const original = project.getAnnotation(id);
    project.deleteAnnotation(id);
    expect(() => project.getAnnotation(id)).toThrow(`no annotation with id ${id}`);
    project.undo();
    expect(project.getAnnotation(id)).toEqual(original);
  });

  it('ids of undone annotations are never reused by new ones', () => {
    const first = add(1, 0);
    project.undo();
    const second = add(1, 0);
    expect(second).toBeGreaterThan(first);
  });
});
