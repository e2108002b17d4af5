import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { maskFromRle, paintBrushStroke, rleFromMask } from '../../main/masks/index.ts';
import { createProject, type Project } from '../../main/project/index.ts';
import { rectRle, tempDir, writeImage } from './helpers.ts';

let cleanup: () => void;
let project: Project;
let label: number;
let kept: number;
beforeEach(async () => {
  let dir: string;
  ({ dir, cleanup } = tempDir());
  project = createProject(join(dir, 'p.db'));
  await writeImage(join(dir, 'a.png'), 10, 10);
  await project.addImages([join(dir, 'a.png')]);
  label = project.addLabel({ name: 'cat' }).id;
  kept = project.addAnnotation({ imageId: 1, labelId: label, rle: rectRle(10, 10, [0, 0, 4, 4]) });
  // the step the no-op edits must leave redoable
  project.addAnnotation({ imageId: 1, labelId: label, rle: rectRle(10, 10, [6, 6, 2, 2]) });
  project.undo();
});
afterEach(() => {
  project.close();
  cleanup();
});

/** What the brush handler does: paint on the stored mask and store the result. */
function stroke(points: [number, number][], value: 0 | 1): void {
  const after = paintBrushStroke(maskFromRle(project.getAnnotation(kept).rle!), points, 2, value);
  project.updateAnnotation(kept, { rle: rleFromMask(after) });
}

describe('edits that change nothing', () => {
  const noops: [string, () => void][] = [
    ['the same visibility', () => project.updateAnnotation(kept, { hidden: false })],
    ['no fields', () => project.updateAnnotation(kept, {})],
    ['the same label', () => project.updateAnnotation(kept, { labelId: label })],
    ['an eraser stroke away from the mask', () => stroke([[8, 1], [9, 1]], 0)],
    ['a brush stroke inside the mask', () => stroke([[2, 2]], 1)],
    ['a stroke with no points', () => stroke([], 1)],
    ['a label update to its own values', () => project.updateLabel(label, { name: 'cat' })],
    ['a label reorder to the same order', () => project.reorderLabels([label])],
  ];
  for (const [what, edit] of noops) {
    it(`${what} records no undo step and keeps the redo step`, () => {
      const state = project.historyState();
      const row = project.getAnnotation(kept);
      edit();
      expect(project.historyState()).toEqual(state);
      expect(project.getAnnotation(kept)).toEqual(row);
      expect(project.redo()).toMatchObject({ kind: 'annotation.add' });
      expect(project.listAnnotations(1)).toHaveLength(2);
    });
  }

  it('a real change still records its step and drops the redo history', () => {
    project.updateAnnotation(kept, { hidden: true });
    expect(project.historyState()).toEqual({ undo: { kind: 'annotation.visibility', imageId: 1 }, redo: null });
    expect(project.undo()).toMatchObject({ kind: 'annotation.visibility', annotationIds: [kept] });
    expect(project.getAnnotation(kept).hidden).toBe(false);
  });
});
