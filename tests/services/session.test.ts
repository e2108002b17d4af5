/** The session's idea of the sample project compares paths with a separator. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createProject } from '../../main/project/index.ts';
import type { Engine } from '../../main/sam/engine.ts';
import { Session } from '../../main/services/session.ts';

const dir = mkdtempSync(join(tmpdir(), 'session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function session(): Session {
  const noDialogs = { openFiles: async () => [], openFolder: async () => null, saveFile: async () => null };
  // no handler here runs a model: the engine is never called
  return new Session({ appDataDir: dir, resourcesDir: dir, dialogs: noDialogs, emit: () => {}, imageUrlBase: () => 'test://', engine: {} as Engine, executionProvider: 'cpu' });
}

describe('Session.isSample', () => {
  it('is false for a project in a folder whose name only starts like the sample folder', () => {
    createProject(join(dir, 'sample-mine', 'p.db')).close();
    const s = session();
    try {
      expect(s.open(join(dir, 'sample-mine', 'p.db')).sample).toBe(false);
      // and so it is remembered among the recent projects, as any project of the user's
      expect(s.prefs.get().recentProjects).toEqual([join(dir, 'sample-mine', 'p.db')]);
    } finally {
      s.close();
    }
  });

  it('is true for the bundled sample project', async () => {
    const s = session();
    try {
      expect((await s.openSample()).sample).toBe(true);
    } finally {
      s.close();
    }
  });
});
