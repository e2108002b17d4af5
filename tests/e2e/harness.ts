/**
 * End-to-end harness: the real renderer (built with the same vite config as the app) in the test
 * browser (tests/helpers/browser.ts: Electron where installed, else a Chromium), with `window.api`
 * bound through `context.exposeBinding` to the real main/api handlers
 * over real services (SQLite project, onnxruntime engine in its worker). Files are served with
 * `context.route()`, no port. Dialogs answer from a queue the test fills.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, relative, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { build } from 'vite';
import { rendererConfig } from '../../electron.vite.config.ts';
import { createHandlers, type Handlers } from '../../main/api/handlers.ts';
import type { Dialogs } from '../../main/services/context.ts';
import type { Session } from '../../main/services/session.ts';
import { createEngine, type Engine } from '../../main/sam/engine.ts';
import { API_METHODS, packMaskViews, type ApiEvent } from '../../preload/contract/index.ts';
import { unpackMaskData, unpackMaskViews } from '../../preload/contract/mask-packing.ts';
import { launchTestBrowser, type TestBrowser } from '../helpers/browser.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const FIXTURES = join(ROOT, 'tests/fixtures/sam-tiny');
export const SCREENSHOTS = join(ROOT, 'out/screenshots');
const ORIGIN = 'http://studio.test';

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' };

/** What the renderer bundle is built from: its sources, the preload contract, the config, the dependencies. */
function rendererSourceHash(): string {
  const hash = createHash('sha256');
  const add = (path: string) => {
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) add(join(path, name));
    } else {
      hash.update(relative(ROOT, path)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  for (const p of ['renderer', 'preload', 'electron.vite.config.ts', 'package-lock.json']) add(join(ROOT, p));
  return hash.digest('hex').slice(0, 16);
}

/**
 * The renderer built with the app's own vite config, once per content of its sources: every
 * end-to-end file of a run (and the next run, if nothing changed) shares one bundle. Built into a
 * temporary folder and renamed into place, so files building at once in parallel workers never
 * read a half-written bundle.
 */
export async function buildRenderer(): Promise<string> {
  const outDir = join(ROOT, 'out/e2e', `renderer-${rendererSourceHash()}`);
  if (existsSync(join(outDir, 'index.html'))) return outDir;
  mkdirSync(join(ROOT, 'out/e2e'), { recursive: true });
  const building = mkdtempSync(`${outDir}.building-`);
  await build({ ...rendererConfig, logLevel: 'error', build: { ...rendererConfig.build, outDir: building, emptyOutDir: true } });
  try {
    renameSync(building, outDir);
    // bundles of earlier sources are never read again
    for (const name of readdirSync(join(ROOT, 'out/e2e'))) {
      if (/^renderer-[0-9a-f]{16}$/.test(name) && join(ROOT, 'out/e2e', name) !== outDir) rmSync(join(ROOT, 'out/e2e', name), { recursive: true, force: true });
    }
  } catch (err) {
    // another worker finished the same bundle first
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(join(outDir, 'index.html'))) throw err;
  }
  return outDir;
}

/** Dialog answers, consumed in order; an empty queue answers "cancelled". */
export class QueuedDialogs implements Dialogs {
  files: string[][] = [];
  folders: (string | null)[] = [];
  saves: (string | null)[] = [];
  async openFiles() { return this.files.shift() ?? []; }
  async openFolder() { return this.folders.shift() ?? null; }
  async saveFile() { return this.saves.shift() ?? null; }
}

export interface Studio {
  dir: string;
  appDataDir: string;
  dialogs: QueuedDialogs;
  handlers: Handlers;
  session: Session;
  engine: Engine;
  browser: TestBrowser;
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Everything up to (not including) loading the page, so tests can prepare the back end first. */
export async function createStudio(opts: { rendererDir: string; resourcesDir?: string; engineThreads?: number }): Promise<Omit<Studio, 'browser' | 'context' | 'page' | 'close'> & { open(): Promise<Studio> }> {
  const dir = mkdtempSync(join(tmpdir(), 'studio-e2e-'));
  const appDataDir = join(dir, 'appdata');
  mkdirSync(appDataDir);
  const dialogs = new QueuedDialogs();
  const engine = await createEngine({ threads: opts.engineThreads ?? 1 });
  let page: Page | null = null;
  const emit = (e: ApiEvent) => { void page?.evaluate((ev) => (window as any).__apiEmit?.(ev), e).catch(() => undefined); };
  const { handlers, session } = createHandlers({
    appDataDir, resourcesDir: opts.resourcesDir ?? join(ROOT, 'resources'), dialogs, emit, engine, executionProvider: 'cpu',
    imageUrlBase: (generation) => `${ORIGIN}/image/${generation}/`,
  });
  const base = { dir, appDataDir, dialogs, handlers, session, engine };

  async function open(): Promise<Studio> {
    const browser = await launchTestBrowser({ width: 1280, height: 800 });
    const context = browser.context;
    await context.route(`${ORIGIN}/**`, async (route) => {
      const url = new URL(route.request().url());
      const img = /^\/image\/(\d+)\/(.*)$/.exec(url.pathname);
      if (img) {
        const served = await session.images.serve(Number(img[1]) === session.generation ? session.project : null, img[2]!);
        return route.fulfill({ status: served.status, contentType: served.mime, body: Buffer.from(served.body) });
      }
      const file = join(opts.rendererDir, url.pathname === '/' ? 'index.html' : url.pathname);
      try {
        return route.fulfill({ status: 200, contentType: MIME[extname(file)] ?? 'application/octet-stream', body: readFileSync(file) });
      } catch {
        return route.fulfill({ status: 404, body: 'not found' });
      }
    });
    await context.exposeBinding('__apiCall', async (_source, method: string, arg: unknown) => {
      const h = (handlers as Record<string, (a: unknown) => Promise<unknown>>)[method];
      if (!h) throw new Error(`unknown API method ${method}`);
      // as main/app answers: mask views packed, unpacked in the page as the preload does
      return packMaskViews(await h(arg));
    });
    // tsx (esbuild keepNames) wraps named functions in __name(); functions serialized into the
    // page (init scripts, page.evaluate from bench scripts) need it defined there too
    await context.addInitScript({ content: 'globalThis.__name = globalThis.__name || ((f) => f);' });
    await context.addInitScript({ content: `${unpackMaskData.toString()}\n${unpackMaskViews.toString()}\nglobalThis.__unpackMaskViews = unpackMaskViews;` });
    await context.addInitScript((methods: string[]) => {
      const listeners = new Set<(e: unknown) => void>();
      const api: Record<string, unknown> = {
        onEvent: (l: (e: unknown) => void) => { listeners.add(l); return () => listeners.delete(l); },
      };
      for (const m of methods) api[m] = async (arg: unknown) => (window as any).__unpackMaskViews(await (window as any).__apiCall(m, arg));
      (window as any).__studioDebug = true;
      (window as any).__apiEmit = (e: unknown) => { for (const l of listeners) l(e); };
      (window as any).api = Object.freeze(api);
    }, [...API_METHODS]);
    const p = await browser.newPage();
    page = p;
    p.on('pageerror', (err) => console.error('page error:', err.message));
    p.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error(`page ${m.type()}:`, m.text()); });
    await p.goto(`${ORIGIN}/index.html`);
    return {
      ...base, browser, context, page: p,
      async close() {
        await browser.close();
        session.close();
        await engine.dispose();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  return { ...base, open };
}

/**
 * A project file `<studio dir>/<name>` with `labels` (in order), then every image of the folder
 * `images` added, the paths allowed as the user's picks in the dialogs would. Returns its path.
 */
export async function createProject(s: { dir: string; handlers: Handlers; session: Session }, name: string, images: string, labels: { name: string; hotkey: string }[] = []): Promise<string> {
  const projectPath = join(s.dir, name);
  s.session.allowed.allowFile(projectPath);
  s.session.allowed.allowFolder(images);
  await s.handlers.projectCreate({ path: projectPath });
  for (const l of labels) await s.handlers.labelCreate(l);
  await s.handlers.imagesAddFolder({ path: images });
  return projectPath;
}

/** Imports the sam-tiny checkpoint as a model and makes it active. */
export async function activateTinyModel(s: { handlers: Handlers; session: Session }): Promise<string> {
  const checkpointPath = join(FIXTURES, 'sam_tiny.pth');
  const configPath = join(FIXTURES, 'config.json');
  s.session.allowed.allowFile(checkpointPath);
  s.session.allowed.allowFile(configPath);
  const m = await s.handlers.modelImportCheckpoint({ checkpointPath, configPath, name: 'sam-tiny' });
  await s.handlers.modelSetActive({ modelId: m.id });
  return m.id;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/**
 * After a click's answer: Tab to its first candidate with pixels (a random-weight model's
 * candidate can be empty, and the user would Tab past it), each Tab waited for on screen.
 * Returns how many Tabs it took.
 */
export async function tabToNonEmptyCandidate(page: Page): Promise<number> {
  const canvas = page.locator('.canvas');
  await page.waitForFunction(() => document.querySelector('.canvas')?.getAttribute('data-candidates-ready') === 'true', undefined, { timeout: 60_000 });
  for (let i = 0; i < 4; i++) {
    if ((await canvas.getAttribute('data-shown-width')) !== '0') return i;
    const before = await canvas.getAttribute('data-candidate');
    await page.keyboard.press('Tab');
    await page.waitForFunction((b) => document.querySelector('.canvas')?.getAttribute('data-candidate') !== b, before);
  }
  throw new Error('every candidate of the answer is empty');
}

/** Where image pixel (x, y) is on the page, from the canvas's current view. */
export async function pageXY(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  const canvas = page.locator('.canvas');
  const box = (await canvas.boundingBox())!;
  const [scale, vx, vy] = (await canvas.getAttribute('data-view'))!.split(',').map(Number) as [number, number, number];
  return { x: box.x + vx + x * scale, y: box.y + vy + y * scale };
}

/** Where the image lies on the canvas (canvas pixels) and the canvas's size, from the view it draws. */
export async function imageOnCanvas(page: Page): Promise<{ x0: number; y0: number; x1: number; y1: number; width: number; height: number }> {
  return page.evaluate(() => {
    const el = document.querySelector('.canvas') as HTMLElement;
    const [scale, x, y] = el.dataset.view!.split(',').map(Number) as [number, number, number];
    const [w, h] = el.dataset.imageSize!.split('x').map(Number) as [number, number];
    return { x0: x, y0: y, x1: x + w * scale, y1: y + h * scale, width: el.clientWidth, height: el.clientHeight };
  });
}

/** Which pixels of the image (x0..x0+w, y0..y0+h) are coloured on a layer's canvas, as 0/1 (1:1 view, DPR 1). */
export async function layerPixels(page: Page, layer: string, x0: number, y0: number, w: number, h: number): Promise<Uint8Array> {
  const bits = await page.evaluate(({ layer, x0, y0, w, h }) => {
    const canvas = document.querySelector(`canvas[data-layer="${layer}"]`) as HTMLCanvasElement;
    const [, vx, vy] = (document.querySelector('.canvas') as HTMLElement).dataset.view!.split(',').map(Number) as [number, number, number];
    const data = canvas.getContext('2d')!.getImageData(vx + x0, vy + y0, w, h).data;
    const out: number[] = [];
    for (let i = 3; i < data.length; i += 4) out.push(data[i]! > 0 ? 1 : 0);
    return out;
  }, { layer, x0, y0, w, h });
  return Uint8Array.from(bits);
}

/** Polls `cond` every 50 ms until it holds; fails naming `what` after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The value of an expression over the page's AppState (window.__studio.app in test builds). */
export function appExpr<T>(page: Page, expr: string): Promise<T> {
  return page.evaluate((e) => new Function('app', `return ${e}`)((window as any).__studio.app), expr) as Promise<T>;
}

/** The id of the project image whose path ends with `name`. */
export function imageIdNamed(studio: Pick<Studio, 'session'>, name: string): number {
  return studio.session.need().listImages({}).items.find((i) => i.path.endsWith(name))!.id;
}

/** Opens the image whose list entry shows `name`, waiting until it is drawn and encoded. */
export async function openImageNamed(studio: Pick<Studio, 'session' | 'page'>, name: string): Promise<void> {
  await studio.page.locator('.image-item', { hasText: name }).click();
  await waitFor(async () => (await studio.page.locator('.canvas').getAttribute('data-loaded-image')) === String(imageIdNamed(studio, name)), `${name} to load`);
  await waitFor(async () => !(await studio.page.locator('[data-testid=encoding]').count()), 'encoding to finish', 120_000);
}
