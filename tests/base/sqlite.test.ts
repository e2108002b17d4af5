/**
 * Which better-sqlite3 binary the app loads: better-sqlite3's own (Node) build under Node, and
 * under Electron the copy built for that Electron in native/electron-<version>/, unpacked beside
 * app.asar when packaged. The Electron runtime is simulated by its process.versions entry; the
 * "Electron" binary is a copy of the Node build, so loading it here proves the option reaches
 * better-sqlite3 (the copy shows up among the process's mapped files).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, sqliteBinding } from '../../main/base/sqlite.ts';

const root = join(import.meta.dirname, '../..');
const nodeBuild = join(dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json')), 'build/Release/better_sqlite3.node');
const dir = mkdtempSync(join(tmpdir(), 'studio-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An app folder (package.json, out/main) with a binary for `electron` under `nativeRoot`. */
function appFolder(name: string, electron: string, nativeRoot = name): { app: string; binary: string } {
  const app = join(dir, name);
  mkdirSync(join(app, 'out/main'), { recursive: true });
  writeFileSync(join(app, 'package.json'), '{}');
  const binary = join(dir, nativeRoot, 'native', `electron-${electron}`, 'better_sqlite3.node');
  mkdirSync(dirname(binary), { recursive: true });
  copyFileSync(nodeBuild, binary);
  return { app, binary };
}

describe('the better-sqlite3 binary', () => {
  it('is better-sqlite3\'s own build under Node', () => {
    expect(sqliteBinding({ node: process.versions.node })).toBeUndefined();
  });

  it('is native/electron-<version> of the app under Electron, and better-sqlite3 loads it', () => {
    const { app, binary } = appFolder('dev', '41.7.1');
    const chosen = sqliteBinding({ node: '24.0.0', electron: '41.7.1' }, join(app, 'out/main'));
    expect(chosen).toBe(binary);
    const db = new Database(join(dir, 'dev.db'), { nativeBinding: chosen });
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (42)');
    expect(db.prepare('SELECT x FROM t').get()).toEqual({ x: 42 });
    db.close();
    expect(readFileSync('/proc/self/maps', 'utf8')).toContain(binary);
  });

  it('is the unpacked copy beside app.asar in a packaged app', () => {
    const { app, binary } = appFolder('resources/app.asar', '41.7.1', 'resources/app.asar.unpacked');
    expect(sqliteBinding({ electron: '41.7.1' }, join(app, 'out/main'))).toBe(binary);
  });

  it('is refused with the command to run when it was built for another Electron', () => {
    const { app } = appFolder('upgraded', '41.7.1');
    const missing = join(app, 'native/electron-42.0.0/better_sqlite3.node');
    expect(() => sqliteBinding({ electron: '42.0.0' }, join(app, 'out/main'))).toThrow(`${missing} is missing: better-sqlite3 has not been built for Electron 42.0.0. Run "npm run native:electron"`);
  });
});

describe('a connection from openDatabase', () => {
  it('has trusted_schema off, read-only ones included (project files come from other people)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sqlite-trusted-'));
    try {
      const path = join(dir, 'p.db');
      const plain = new Database(path);
      expect(plain.pragma('trusted_schema', { simple: true })).toBe(1);
      plain.close();
      for (const options of [{}, { readonly: true, fileMustExist: true }]) {
        const db = openDatabase(path, options);
        expect(db.pragma('trusted_schema', { simple: true })).toBe(0);
        db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the install step (scripts/electron-native.mjs)', () => {
  it('says in one line that it skips when the Electron binary is not installed, and builds nothing', () => {
    const empty = mkdtempSync(join(dir, 'no-electron-'));
    const before = existsSync(join(root, 'native'));
    const r = spawnSync(process.execPath, [join(root, 'scripts/electron-native.mjs'), '--postinstall'], {
      encoding: 'utf8', env: { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: empty },
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^better-sqlite3 for Electron \d+\.\d+\.\d+: skipped, the Electron binary is not installed/)]);
    expect(existsSync(join(root, 'native'))).toBe(before);
  });
});
