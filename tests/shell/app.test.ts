/**
 * The Electron shell as built (out/main, out/preload/index.cjs, out/renderer), run by the
 * stand-in electron module (harness.ts): window.api comes from the real preload over IPC to the
 * handlers main/app registers (with its sender check), images come through the studio-image:
 * protocol handler, menus and dialogs are main/app's. One user's data folder across two launches:
 * the first starts fresh, the second finds the window where the first left it.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_METHODS } from '../../preload/contract/index.ts';
import { pageXY, tabToNonEmptyCandidate } from '../e2e/harness.ts';
import { LEFT_RUNNING } from './electron-standin/control.ts';
import { buildApp, childPids, isAlive, launchApp, launchShellBrowser, ROOT, type ShellApp, type ShellBrowser } from './harness.ts';

const FIXTURES = join(ROOT, 'tests/fixtures/sam-tiny');
const SAMPLES = readdirSync(join(ROOT, 'resources/samples')).filter((f) => /\.(png|jpe?g)$/.test(f));

const dir = mkdtempSync(join(tmpdir(), 'studio-shell-'));
const outDir = join(ROOT, 'out', `shell-${process.pid}`);
const userData = join(dir, 'userdata');
const sampleDb = join(userData, 'sample/sample.ptq4sam');
let browser: ShellBrowser;
let app: ShellApp;

beforeAll(async () => {
  mkdirSync(userData);
  buildApp(outDir);
  browser = await launchShellBrowser();
  app = await launchApp({ outDir, userData, browser });
});

afterAll(async () => {
  if (app && app.child.exitCode === null) app.child.kill('SIGKILL');
  await browser?.close();
  rmSync(outDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

const page = () => app.page;

function annotationCount(): number {
  const db = new Database(sampleDb, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM annotations').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** The window's screen and the number of images in its list. */
function screenAndImages(): Promise<{ screen: string | undefined; images: number }> {
  return page().evaluate(() => ({ screen: (document.querySelector('.app') as HTMLElement | null)?.dataset.screen, images: document.querySelectorAll('.image-item').length }));
}

/** The app's job processes (its other children are tsx's compiler service). */
function jobPids(): number[] {
  return childPids(app.child.pid!).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('job-process.js');
    } catch {
      return false;
    }
  });
}

/** Calls the transport the preload uses, as a script in `frame` could. */
function rawCall(frame: ReturnType<ShellApp['page']['mainFrame']>, method: string): Promise<string> {
  return frame.evaluate(async (m) => {
    try {
      // an rpc.ts request, as the preload sends it: refusals inside main come back as an error answer
      const r = await (window as any).__electronIpc('invoke', 'api:call', [{ kind: 'request', id: 1, method: m, args: [] }]);
      return r.error ? r.error.message : 'answered';
    } catch (err) {
      return (err as Error).message;
    }
  }, method);
}

describe('the built app in its shell', () => {
  it('opens the first-run wizard on a fresh data folder, with window.api from the preload', async () => {
    await page().locator('[data-testid=wizard]').waitFor();
    const api = await page().evaluate(() => ({ keys: Object.keys((window as any).api).sort(), frozen: Object.isFrozen((window as any).api), node: typeof (window as any).require }));
    expect(api).toEqual({ keys: [...API_METHODS, 'onEvent'].sort(), frozen: true, node: 'undefined' });
    const win = app.events.find((e) => e.type === 'window');
    expect(win?.type === 'window' && win.options).toMatchObject({ width: 1400, height: 900, show: false, webPreferences: { preload: join(outDir, 'preload/index.cjs') } });
    expect(await app.state()).toMatchObject({ visible: true, menu: ['File', 'Edit', 'View', 'Help'] });
  });

  it('opens the sample project on "Skip for now", its images served through studio-image:', async () => {
    await page().locator('[data-testid=wizard-skip]').click();
    // the screen with the count: a failure says where the window stayed (wizard, start, annotate)
    await expect.poll(screenAndImages, { timeout: 60_000 }).toEqual({ screen: 'annotate', images: SAMPLES.length });
    await expect.poll(() => page().evaluate(() => [...document.images].filter((i) => i.src.startsWith('studio-image:') && i.complete && i.naturalWidth > 0).length)).toBe(SAMPLES.length);
    // another generation's URL (a project no longer open) is not served
    const stale = await page().evaluate(() => new Promise<string>((resolve) => {
      const img = new Image();
      img.onload = () => resolve('loaded');
      img.onerror = () => resolve('refused');
      img.src = 'studio-image://project/999/thumb/1';
    }));
    expect(stale).toBe('refused');
    expect(app.events.filter((e) => e.type === 'blocked')).toEqual([]);
  });

  it('runs the menu\'s commands in the window: Add Folder asks for a folder, Add Images for files', async () => {
    const folder = join(dir, 'more');
    mkdirSync(folder);
    copyFileSync(join(FIXTURES, 'landscape.png'), join(folder, 'landscape.png'));
    await app.answer('open', [folder]);
    await app.menu('File', 'Add Folder…');
    await expect.poll(screenAndImages, { timeout: 30_000 }).toEqual({ screen: 'annotate', images: SAMPLES.length + 1 });
    await app.answer('open', null);
    await app.menu('File', 'Add Images…');
    await expect.poll(() => app.events.filter((e) => e.type === 'dialog').length).toBe(2);
    const [folderDialog, filesDialog] = app.events.filter((e) => e.type === 'dialog').map((e) => e.type === 'dialog' && e.options);
    expect(folderDialog).toMatchObject({ title: 'Add a folder of images', properties: ['openDirectory', 'createDirectory'] });
    expect((filesDialog as { properties: string[] }).properties).toContain('openFile');
    await app.menu('Help', 'Keyboard Shortcuts');
    await page().locator('[data-testid=shortcut-sheet]').waitFor();
    await page().keyboard.press('Escape');
  });

  it('imports sam-tiny through the file dialogs and makes it active', async () => {
    await app.menu('View', 'Models');
    await page().locator('[data-testid=models-page]').waitFor();
    await app.answer('open', [join(FIXTURES, 'sam_tiny.pth')]);
    await app.answer('open', [join(FIXTURES, 'config.json')]);
    await page().getByRole('button', { name: 'Import checkpoint…' }).click();
    const row = page().locator('tr[data-model-id]');
    await expect.poll(() => row.count(), { timeout: 120_000 }).toBe(1);
    await row.getByRole('button', { name: 'Use' }).click();
    await expect.poll(() => row.textContent(), { timeout: 60_000 }).toContain('(active)');
  });

  it('gives a mask for a point click, stores it on Enter and takes it back on Ctrl+Z', async () => {
    await page().getByRole('button', { name: 'Back to annotating' }).click();
    await page().locator('.image-item', { hasText: 'landscape.png' }).click();
    await expect.poll(() => page().locator('.canvas').getAttribute('data-loaded'), { timeout: 60_000 }).toBe('true');
    await expect.poll(() => page().locator('[data-testid=encoding]').count(), { timeout: 120_000 }).toBe(0);
    const at = await pageXY(page(), 40, 30);
    await page().mouse.click(at.x, at.y);
    await page().locator('[data-testid=candidates]').waitFor({ timeout: 60_000 });
    expect(annotationCount()).toBe(0);
    // sam-tiny's weights are random: its best candidate may be empty; Tab shows the next
    await tabToNonEmptyCandidate(page());
    await page().keyboard.press('Enter');
    await expect.poll(annotationCount).toBe(1);
    await page().keyboard.press('Control+z');
    await expect.poll(annotationCount).toBe(0);
    await page().keyboard.press('Control+Shift+z');
    await expect.poll(annotationCount).toBe(1);
  });

  it('refuses an API call from a frame that is not the main frame, and an unknown method', async () => {
    await page().evaluate(() => {
      const frame = document.createElement('iframe');
      frame.srcdoc = '<p>embedded</p>';
      document.body.append(frame);
      return new Promise((resolve) => frame.addEventListener('load', resolve));
    });
    const sub = page().frames().find((f) => f !== page().mainFrame())!;
    expect(await sub.evaluate(() => typeof (window as any).api)).toBe('undefined');
    expect(await rawCall(sub, 'prefsGet')).toBe("Error invoking remote method 'api:call': Error: API call from an unknown frame");
    expect(await rawCall(page().mainFrame(), 'prefsGet')).toBe('answered');
    expect(await rawCall(page().mainFrame(), 'noSuchMethod')).toBe('unknown method noSuchMethod');
    expect(await rawCall(page().mainFrame(), 'constructor')).toBe('unknown method constructor');
  });

  it('quits cleanly from File > Quit while a quantization runs: job process ended, database closed, nothing left running', async () => {
    await app.setBounds({ x: 64, y: 48, width: 1100, height: 720 });
    await app.menu('View', 'Models');
    await page().locator('[data-testid=calib-count]').fill('1');
    await page().locator('[data-testid=quantize]').click();
    await expect.poll(jobPids, { timeout: 60_000 }).toHaveLength(1);
    const [job] = jobPids();
    expect(existsSync(`${sampleDb}-wal`)).toBe(true);
    expect(isAlive(job!)).toBe(true);
    await app.menu('File', 'quit');
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(app.output()).not.toContain(LEFT_RUNNING);
    expect(isAlive(job!)).toBe(false);
    // better-sqlite3 checkpoints and removes the write-ahead log when the last connection closes
    expect(existsSync(`${sampleDb}-wal`)).toBe(false);
    expect(JSON.parse(readFileSync(join(userData, 'window.json'), 'utf8'))).toEqual({ bounds: { x: 64, y: 48, width: 1100, height: 720 }, maximized: false });
  });

  it('opens the next time where the window was, and quits when its window is closed', async () => {
    app = await launchApp({ outDir, userData, browser });
    const win = app.events.find((e) => e.type === 'window');
    expect(win?.type === 'window' && win.options).toMatchObject({ x: 64, y: 48, width: 1100, height: 720 });
    expect(await page().evaluate(() => [window.innerWidth, window.innerHeight])).toEqual([1100, 720]);
    await expect.poll(() => page().locator('[data-testid=wizard]').count()).toBe(0);
    await app.close();
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(app.output()).not.toContain(LEFT_RUNNING);
  });

  it('loads its own renderer when packaged, whatever ELECTRON_RENDERER_URL says', async () => {
    const packagedData = join(dir, 'packaged');
    mkdirSync(packagedData);
    app = await launchApp({ outDir, userData: packagedData, browser, env: { STANDIN_PACKAGED: '1', ELECTRON_RENDERER_URL: 'http://localhost:5173/' } });
    // the renderer's own page, served by the app's studio-app: protocol (as the stand-in shows it)
    expect(page().url()).toBe('http://renderer.studio-app.standin/index.html');
    await page().locator('[data-testid=wizard]').waitFor();
    expect(app.events.filter((e) => e.type === 'blocked')).toEqual([]);
    // the protocol serves the renderer's folder and nothing beside it (the built main process is one folder up)
    const status = (path: string) => page().evaluate((p) => fetch(p).then((r) => r.status), path);
    expect(await status('/index.html')).toBe(200);
    expect(await status('/%2e%2e%2fmain%2findex.js')).toBe(404);
    expect(await status('/..%2f..%2fpackage.json')).toBe(404);
    await app.close();
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });
});
