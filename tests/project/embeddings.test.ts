import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProject, type Project } from '../../main/project/index.ts';
import { tempDir } from './helpers.ts';

let dir: string;
let cleanup: () => void;
let project: Project;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  project = createProject(join(dir, 'p.db'));
});
afterEach(() => {
  project.close();
  cleanup();
});

const embedding = (seed: number) => ({ shape: [1, 4, 8, 8], data: Uint16Array.from({ length: 256 }, (_, i) => (i * 31 + seed) & 0xffff) });

describe('embedding cache', () => {
  it('an embedding comes back with its shape and exact fp16 bits', () => {
    const e = embedding(7);
    project.putEmbedding('aa', 'vit_b', e);
    expect(project.getEmbedding('aa', 'vit_b')).toEqual({ dtype: 'fp16', shape: [1, 4, 8, 8], data: e.data });
    expect(project.getEmbedding('aa', 'vit_l')).toBeNull();
  });

  it('storing beyond the budget evicts the least recently used embeddings', () => {
    project.setEmbeddingBudgetBytes(3 * 512);
    for (const sha of ['a', 'b', 'c']) project.putEmbedding(sha, 'm', embedding(1));
    project.getEmbedding('a', 'm'); // now b is the least recently used
    project.putEmbedding('d', 'm', embedding(2));
    expect(['a', 'b', 'c', 'd'].map((sha) => project.getEmbedding(sha, 'm') !== null)).toEqual([true, false, true, true]);
    expect(project.stats().embeddingCache).toEqual({ entries: 3, bytes: 1536, budgetBytes: 1536 });
  });

  it('lowering the budget evicts down to it at once', () => {
    for (const sha of ['a', 'b', 'c', 'd']) project.putEmbedding(sha, 'm', embedding(1));
    project.setEmbeddingBudgetBytes(1024);
    expect(project.stats().embeddingCache).toMatchObject({ entries: 2, bytes: 1024 });
    expect(project.getEmbedding('d', 'm')).not.toBeNull();
  });

  it('an embedding whose shape does not match its data is refused', () => {
    expect(() => project.putEmbedding('a', 'm', { shape: [2, 2], data: new Uint16Array(3) })).toThrow('embedding for a has shape [2,2] but 3 values');
  });
});
