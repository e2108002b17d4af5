/**
 * The Electron build, checked without the Electron binary: `electron-vite build` must emit the
 * preload as CommonJS (a sandboxed window cannot load an ES-module preload; tests/shell runs the
 * built preload too, this test names the cause), and the main bundle must point at the files the
 * build really wrote.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const out = join(root, 'out');

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'build', '--logLevel', 'error'], { cwd: root, stdio: 'pipe' });
});

describe('electron-vite build', () => {
  it('emits the preload as a CommonJS file that requires electron', () => {
    const preload = readFileSync(join(out, 'preload/index.cjs'), 'utf8');
    expect(preload).toMatch(/require\("electron"\)/);
    expect(preload).not.toMatch(/^\s*(import|export)\s/m);
    expect(preload).not.toMatch(/import\.meta/);
  });

  it('points the window at the preload, the engine worker and the job process the build wrote', () => {
    const main = readFileSync(join(out, 'main/index.js'), 'utf8');
    expect(main).toContain('"../preload/index.cjs"');
    for (const worker of ['engine-worker.js', 'job-process.js']) {
      expect(main).toContain(`${worker}"`);
      expect(existsSync(join(out, 'main', worker))).toBe(true);
    }
  });

  it('builds a renderer page whose CSP allows no remote content', () => {
    const html = readFileSync(join(out, 'renderer/index.html'), 'utf8');
    const csp = /Content-Security-Policy" content="([^"]+)"/.exec(html)![1]!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/https?:|\*/);
  });

  it('creates the window sandboxed and isolated, without Node in the page', () => {
    const main = readFileSync(join(out, 'main/index.js'), 'utf8');
    expect(main).toMatch(/contextIsolation: true/);
    expect(main).toMatch(/sandbox: true/);
    expect(main).toMatch(/nodeIntegration: false/);
  });
});
