import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProject, type Project } from '../../main/project/index.ts';
import { tempDir } from './helpers.ts';

let cleanup: () => void;
let project: Project;
beforeEach(() => {
  let dir: string;
  ({ dir, cleanup } = tempDir());
  project = createProject(join(dir, 'p.db'));
});
afterEach(() => {
  project.close();
  cleanup();
});

describe('label names with control characters', () => {
  it('a new label, a rename and an import are refused, naming the character', () => {
    expect(() => project.addLabel({ name: 'b\u0000evil' })).toThrow('label name "b\\u0000evil" contains the control character U+0000; names may not contain control characters');
    const cat = project.addLabel({ name: 'cat' });
    expect(() => project.updateLabel(cat.id, { name: 'b\u0000evil' })).toThrow('contains the control character U+0000');
    expect(() => project.updateLabel(cat.id, { name: 'two\nlines' })).toThrow('label name "two\\nlines" contains the control character U+000A');
    expect(() => project.addLabel({ name: 'del\u007f' })).toThrow('contains the control character U+007F');
    expect(() => project.addLabel({ name: 'a\u001fb' })).toThrow('contains the control character U+001F');
    expect(() => project.importAnnotations({ labels: [{ name: 'x\u0007' }], annotations: [] })).toThrow('contains the control character U+0007');
    expect(project.listLabels().map((l) => l.name)).toEqual(['cat']);
    expect(project.historyState().undo).toMatchObject({ kind: 'label.add' });
  });

  it('spaces around a name are still trimmed, and other characters are kept', () => {
    expect(project.addLabel({ name: '\t chat noir \n' }).name).toBe('chat noir');
    expect(project.addLabel({ name: 'Ünïcødé ☃ \u00a0x' }).name).toBe('Ünïcødé ☃ \u00a0x');
  });
});
