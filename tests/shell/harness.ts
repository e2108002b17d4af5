/**
 * The shell harness: the app as built (out/main, out/preload/index.cjs, out/renderer) runs in a
 * Node process of its own, as Electron's main process would, with the `electron` module replaced
 * by the stand-in (electron-standin/). Its window is a page in a Chromium that this process
 * starts; the stand-in shows windows in it over the DevTools protocol, and the test drives the
 * same page from here (clicks, keys, screenshots). Menus, dialogs, bounds and closing go through
 * the stand-in's control channel.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, findChromium, NO_CHROMIUM } from '../helpers/browser.ts';
import type { ControlOp, ControlReply, DialogAnswer, StandinEvent, WindowState } from './electron-standin/control.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
const REGISTER = join(import.meta.dirname, 'electron-standin/register.mjs');

/** `electron-vite build` into `outDir` (main, preload, renderer), as `npm run build` does into out/. */
export function buildApp(outDir: string): void {
  execFileSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build', '--logLevel', 'error'], {
    cwd: ROOT, stdio: 'pipe', env: { ...process.env, STUDIO_OUT_DIR: outDir },
  });
}

/** A Chromium the stand-in and the test both connect to. */
export interface ShellBrowser {
  context: BrowserContext;
  cdpUrl: string;
  close(): Promise<void>;
}

export async function launchShellBrowser(): Promise<ShellBrowser> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error(NO_CHROMIUM);
  const profile = mkdtempSync(join(tmpdir(), 'studio-shell-chromium-'));
  // viewport null: the window's size is the stand-in's to set
  const context = await chromium.launchPersistentContext(profile, { executablePath, args: [...CHROMIUM_ARGS, '--remote-debugging-port=0'], headless: true, viewport: null });
  const port = readFileSync(join(profile, 'DevToolsActivePort'), 'utf8').split('\n')[0];
  return {
    context, cdpUrl: `http://127.0.0.1:${port}`,
    async close() { await context.close(); rmSync(profile, { recursive: true, force: true }); },
  };
}

export interface ShellApp {
  child: ChildProcess;
  /** the window, as this test sees it */
  page: Page;
  /** what the stand-in reported: windows made, dialogs shown, requests refused */
  events: StandinEvent[];
  /** the app's stdout and stderr so far */
  output(): string;
  menu(...path: string[]): Promise<void>;
  /** the next open or save dialog answers `answer` (null: cancelled) */
  answer(kind: 'open' | 'save', answer: DialogAnswer): Promise<void>;
  setBounds(bounds: { x?: number; y?: number; width?: number; height?: number }): Promise<void>;
  state(): Promise<WindowState>;
  /** closes the window (the close box) */
  close(): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the built app in `outDir` with `userData` as its data folder (and `env`); resolves once its window loaded. */
export async function launchApp(opts: { outDir: string; userData: string; browser: ShellBrowser; env?: NodeJS.ProcessEnv }): Promise<ShellApp> {
  const env: NodeJS.ProcessEnv = { ...process.env, STANDIN_CDP_URL: opts.browser.cdpUrl, STANDIN_USER_DATA: opts.userData, STANDIN_APP_PATH: ROOT };
  delete env.ELECTRON_RENDERER_URL;
  Object.assign(env, opts.env);
  const child = fork(join(opts.outDir, 'main/index.js'), [], { cwd: ROOT, env, execArgv: ['--import', 'tsx', '--import', REGISTER], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const events: StandinEvent[] = [];
  const pending = new Map<number, (r: ControlReply) => void>();
  child.on('message', (m: ControlReply | StandinEvent) => {
    if (m.type === 'reply') pending.get(m.id)?.(m);
    else events.push(m);
  });
  let nextId = 1;
  const control = (request: ControlOp): Promise<unknown> => new Promise((res, rej) => {
    const id = nextId++;
    pending.set(id, (r) => { pending.delete(id); if (r.error) rej(new Error(r.error)); else res(r.value); });
    child.send({ ...request, id });
  });

  const pageOpened = opts.browser.context.waitForEvent('page', { timeout: 60_000 });
  const failed = exited.then(({ code, signal }) => { throw new Error(`the app exited (${signal ?? code}) before its window opened:\n${output}`); });
  const page = await Promise.race([pageOpened, failed]);
  page.on('pageerror', (err) => console.error('page error:', err.message));
  // the page starts as about:blank; the window's own page follows
  await Promise.race([page.waitForURL((url) => url.protocol === 'file:' || url.hostname.endsWith('.standin'), { timeout: 60_000 }), failed]);
  return {
    child, page, events, exited,
    output: () => output,
    menu: async (...path) => { await control({ op: 'menu', path }); },
    answer: async (kind, answer) => { await control({ op: 'answer', kind, answer }); },
    setBounds: async (bounds) => { await control({ op: 'setBounds', bounds }); },
    state: async () => (await control({ op: 'state' })) as WindowState,
    close: async () => { await control({ op: 'close' }); },
  };
}

/** The ids of the processes whose parent is `pid` (Linux /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid ...; comm may hold spaces and parentheses
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** Whether `pid` is a running process (not gone, not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
