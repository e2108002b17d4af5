import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProject, type Project } from '../../main/project/index.ts';
import { rectRle, tempDir, writeImage } from './helpers.ts';

let cleanup: () => void;
let project: Project;
beforeEach(async () => {
  let dir: string;
  ({ dir, cleanup } = tempDir());
  project = createProject(join(dir, 'p.db'));
  await project.addImages([await writeImage(join(dir, 'a.png'), 8, 8)]);
});
afterEach(() => {
  project.close();
  cleanup();
});

describe('labels', () => {
  it('new labels get distinct palette colours and follow each other in order', () => {
    const a = project.addLabel({ name: 'cat' });
    const b = project.addLabel({ name: ' dog ', hotkey: '2' });
    const c = project.addLabel({ name: 'bird', color: '#A0B0C0' });
    expect(project.listLabels()).toEqual([
      { id: a.id, name: 'cat', color: '#e6194b', hotkey: null, sortOrder: 0 },
      { id: b.id, name: 'dog', color: '#3cb44b', hotkey: '2', sortOrder: 1 },
      { id: c.id, name: 'bird', color: '#a0b0c0', hotkey: null, sortOrder: 2 },
    ]);
  });

  it('a second label with the same name is refused', () => {
    project.addLabel({ name: 'cat' });
    expect(() => project.addLabel({ name: 'cat' })).toThrow('a label named "cat" already exists');
  });

  it('a colour that is not #rrggbb is refused', () => {
    expect(() => project.addLabel({ name: 'cat', color: 'red' })).toThrow('label colour "red" is not of the form #rrggbb');
  });

  it('a hotkey already taken is refused', () => {
    project.addLabel({ name: 'cat', hotkey: '1' });
    expect(() => project.addLabel({ name: 'dog', hotkey: '1' })).toThrow('hotkey "1" is already used by label "cat"');
  });

  it('renaming and recolouring change only the fields given', () => {
    const cat = project.addLabel({ name: 'cat', hotkey: 'c' });
    expect(project.updateLabel(cat.id, { name: 'kitten' })).toMatchObject({ name: 'kitten', color: cat.color, hotkey: 'c' });
    expect(project.updateLabel(cat.id, { color: '#112233' })).toMatchObject({ name: 'kitten', color: '#112233' });
  });

  it('reordering needs every label once and sets their order', () => {
    const [a, b, c] = ['a', 'b', 'c'].map((name) => project.addLabel({ name }));
    expect(() => project.reorderLabels([a!.id, b!.id])).toThrow(/must list each of the 3 labels once/);
    expect(project.reorderLabels([c!.id, a!.id, b!.id]).map((l) => l.name)).toEqual(['c', 'a', 'b']);
  });

  it('deleting a label in use is refused by default', () => {
    const cat = project.addLabel({ name: 'cat' });
    project.addAnnotation({ imageId: 1, labelId: cat.id, rle: rectRle(8, 8, [0, 0, 2, 2]) });
    expect(() => project.deleteLabel(cat.id)).toThrow('label "cat" is used by 1 annotation(s): delete them or move them to another label first');
    expect(project.listLabels()).toHaveLength(1);
  });

  it('deleting a label can delete its annotations with it', () => {
    const cat = project.addLabel({ name: 'cat' });
    project.addAnnotation({ imageId: 1, labelId: cat.id, rle: rectRle(8, 8, [0, 0, 2, 2]) });
    expect(project.deleteLabel(cat.id, { mode: 'delete-annotations' })).toEqual({ deletedAnnotations: 1, reassignedAnnotations: 0 });
    expect(project.stats()).toMatchObject({ labels: 0, annotations: 0 });
  });

  it('deleting a label can move its annotations to another label', () => {
    const cat = project.addLabel({ name: 'cat' });
    const animal = project.addLabel({ name: 'animal' });
    const id = project.addAnnotation({ imageId: 1, labelId: cat.id, rle: rectRle(8, 8, [0, 0, 2, 2]) });
    expect(project.deleteLabel(cat.id, { mode: 'reassign', toLabelId: animal.id })).toEqual({ deletedAnnotations: 0, reassignedAnnotations: 1 });
    expect(project.getAnnotation(id).labelId).toBe(animal.id);
  });

  it('one undo restores a deleted label together with its annotations', () => {
    const cat = project.addLabel({ name: 'cat' });
    const id = project.addAnnotation({ imageId: 1, labelId: cat.id, rle: rectRle(8, 8, [0, 0, 2, 2]) });
    const before = project.getAnnotation(id);
    project.deleteLabel(cat.id, { mode: 'delete-annotations' });
    expect(project.undo()).toMatchObject({ kind: 'label.delete', labelIds: [cat.id], annotationIds: [id] });
    expect(project.getLabel(cat.id)).toEqual(cat);
    expect(project.getAnnotation(id)).toEqual(before);
  });
});
