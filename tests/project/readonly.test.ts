/**
 * A project on a medium that cannot be written: it opens read-only, lists and exports. The medium
 * is a tmpfs remounted read-only inside a user and mount namespace of its own (nothing outside the
 * test sees it); where the system allows no such namespace the test is skipped.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '../..');
const namespaces = spawnSync('unshare', ['--map-root-user', '--mount', 'true']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'readonly-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!namespaces)('a project on a read-only medium', () => {
  it('opens read-only: stats and export work, edits are refused with a message, nothing is written', () => {
    const medium = join(dir, 'medium');
    const out = join(dir, 'export');
    mkdirSync(medium);
    const cli = `"${process.execPath}" --import tsx "${join(repo, 'main/cli/index.ts')}"`;
    const script = `
      set -e
      mount -t tmpfs none "${medium}"
      cp "${join(repo, 'resources/samples/coins.png')}" "${medium}/coins.png"
      ${cli} project init "${medium}/p.db" 2>/dev/null
      ${cli} project add "${medium}/p.db" "${medium}/coins.png" >/dev/null 2>&1
      ${cli} project labels "${medium}/p.db" add coin >/dev/null
      mount -o remount,ro "${medium}"
      echo "--stats"; ${cli} project stats "${medium}/p.db"
      echo "--export"; ${cli} project export "${medium}/p.db" --format coco --out "${out}" 2>/dev/null
      echo "--edit"; ${cli} project labels "${medium}/p.db" add other 2>&1 || echo "exit $?"
      echo "--files"; ls -a "${medium}"
    `;
    const r = spawnSync('unshare', ['--map-root-user', '--mount', 'bash', '-c', script], { cwd: repo, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [, stats, exported, edit, files] = r.stdout.split(/^--(?:stats|export|edit|files)\n/m);
    expect(JSON.parse(stats!)).toMatchObject({ images: 1, labels: 1 });
    expect(JSON.parse(exported!)).toMatchObject({ images: 1 });
    expect(JSON.parse(readFileSync(join(out, 'annotations.json'), 'utf8')).images).toHaveLength(1);
    expect(edit).toMatch(/^error: project file cannot be written: .*p\.db \(SQLITE_READONLY\)\nexit 1\n$/);
    expect(files!.split('\n').filter(Boolean).sort()).toEqual(['.', '..', 'coins.png', 'p.db']);
  }, 120_000);
});
