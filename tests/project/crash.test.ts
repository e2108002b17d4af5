import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject, openProject } from '../../main/project/index.ts';
import { tempDir, writeImage } from './helpers.ts';

/** Runs the child until it has been working for `killAfterMs`, kills it with SIGKILL, returns its stdout lines. */
function runAndKill(args: string[], killAfterMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'crash-child.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      if (!out.startsWith('ready') && (out + d.toString()).startsWith('ready')) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`crash child ended by itself (${signal ?? _code}): ${err}`));
      else resolve(out.split('\n').filter((l) => l !== '' && l !== 'ready'));
    });
  });
}

describe('crash safety', () => {
  let dir: string;
  let cleanup: () => void;
  beforeAll(() => ({ dir, cleanup } = tempDir('project-crash-')));
  afterAll(() => cleanup());

  it('killing the process at random moments loses no committed annotation and leaves nothing half-written', async () => {
    const db = join(dir, 'p.db');
    const project = createProject(db);
    project.addLabel({ name: 'thing' });
    project.close();
    const template = await writeImage(join(dir, 'template.png'), 32, 32);
    mkdirSync(join(dir, 'images'));

    const saved = new Set<number>();
    const undone = new Set<number>();
    // seeded delays, so a failure can be replayed: spread over the child's whole loop
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 6; round++) {
      const lines = await runAndKill([db, template, join(dir, 'images')], 150 + Math.floor(random() * 900));
      for (const line of lines) {
        const [what, id] = line.split(' ') as [string, string];
        if (what === 'annotation') saved.add(Number(id));
        if (what === 'undoing') undone.add(Number(id));
      }
    }
    expect(saved.size).toBeGreaterThan(5);

    const raw = new Database(db);
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(raw.pragma('foreign_key_check')).toEqual([]);
    const present = new Set(raw.prepare('SELECT id FROM annotations').all().map((r: any) => r.id as number));
    for (const id of saved) expect(present.has(id) || undone.has(id), `annotation ${id} was reported saved`).toBe(true);
    // every annotation row is complete and has the edit-log entry written in its transaction
    const orphans = raw.prepare(`SELECT a.id FROM annotations a WHERE NOT EXISTS (
      SELECT 1 FROM edit_log e JOIN edit_states s ON s.entry_id = e.id
      WHERE e.undone = 0 AND s.direction = 0 AND s.tbl = 'annotations' AND s.row_id = a.id)`).all();
    expect(orphans).toEqual([]);
    // and every live log entry's annotation exists
    const dangling = raw.prepare(`SELECT e.id FROM edit_log e JOIN edit_states s ON s.entry_id = e.id
      WHERE e.undone = 0 AND e.kind = 'annotation.add' AND s.direction = 0 AND s.row_id NOT IN (SELECT id FROM annotations)`).all();
    expect(dangling).toEqual([]);
    raw.close();

    const reopened = openProject(db);
    for (const id of [...saved].filter((id) => present.has(id))) {
      const a = reopened.getAnnotation(id);
      expect(a.area).toBeGreaterThan(0);
      expect(a.rle!.size).toEqual([32, 32]);
      expect(a.modelId).toBe('crash-test');
    }
    reopened.close();
  });
});
