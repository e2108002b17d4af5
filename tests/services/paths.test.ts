/** The allow-list of user-chosen paths compares real paths. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AllowedPaths } from '../../main/services/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'allowed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('AllowedPaths', () => {
  it('refuses a path that leaves a chosen folder through a symlink inside it', () => {
    mkdirSync(join(dir, 'chosen'));
    mkdirSync(join(dir, 'private'));
    writeFileSync(join(dir, 'private', 'secret.txt'), 'secret');
    symlinkSync(join(dir, 'private'), join(dir, 'chosen', 'link'));
    const allowed = new AllowedPaths();
    allowed.allowFolder(join(dir, 'chosen'));
    expect(allowed.isAllowed(join(dir, 'chosen', 'link', 'secret.txt'))).toBe(false);
    expect(allowed.isAllowed(join(dir, 'chosen', 'new-export', 'annotations.json'))).toBe(true);
    expect(() => allowed.check('exportDataset', join(dir, 'chosen', 'link', 'secret.txt'))).toThrow('was not chosen by the user');
  });

  it('does not take a sibling whose name starts with the chosen folder for it', () => {
    mkdirSync(join(dir, 'photos'));
    mkdirSync(join(dir, 'photos-evil'));
    const allowed = new AllowedPaths();
    allowed.allowFolder(join(dir, 'photos'));
    expect(allowed.isAllowed(join(dir, 'photos-evil', 'x.png'))).toBe(false);
    expect(allowed.isAllowed(join(dir, 'photos', 'x.png'))).toBe(true);
  });

  it('allows a chosen folder reached through a symlinked path', () => {
    mkdirSync(join(dir, 'real-folder'));
    symlinkSync(join(dir, 'real-folder'), join(dir, 'alias'));
    const allowed = new AllowedPaths();
    allowed.allowFolder(join(dir, 'alias'));
    expect(allowed.isAllowed(join(dir, 'real-folder', 'a.png'))).toBe(true);
  });
});
