/**
 * A stand-in for the `electron` module, so the built main process (out/main/index.js) runs under
 * plain Node with its windows as pages of a real Chromium. It is small and honest: what it does,
 * it does the way Electron does (event order, IPC semantics, a sandboxed context-isolated
 * preload, protocol handlers serving the page's requests); what it cannot do throws "not
 * supported by the stand-in" naming the call, instead of pretending.
 *
 * - BrowserWindow: a page in the Chromium whose DevTools endpoint is STANDIN_CDP_URL (the test
 *   drives the same page from its own connection). Bounds are the page's viewport; there is no
 *   window manager, so move/resize/maximize only happen when the test asks (control message).
 * - The preload (webPreferences.preload, the built .cjs) runs in the main frame before the page's
 *   scripts, with a `require` that offers only 'electron' (contextBridge, ipcRenderer) as in a
 *   sandboxed preload. contextBridge copies what crosses, as Electron's does. It runs in the
 *   page's world, not an isolated one: the page could reach the transport binding; Electron's
 *   isolation itself is not what is tested here.
 * - ipcRenderer.invoke travels over a Playwright binding to ipcMain.handle with `sender` and
 *   `senderFrame` set from the calling frame, so the main process's sender check is exercised.
 * - protocol.handle and loadFile are served through the page's request routing: file: URLs from
 *   disk with session.webRequest's response headers applied (the CSP), handled schemes through
 *   their handler. Every other request is refused: the stand-in has no network. Chromium
 *   without Electron cannot navigate to a scheme it does not know, so a window loading
 *   `<scheme>://<host>/<path>` shows `http://<host>.<scheme>.standin/<path>` instead (same
 *   paths, one origin per host, as Electron gives a standard scheme), served by the same handler.
 * - dialog answers from queues the test fills and reports each dialog it was asked to show.
 * - Menu keeps the template; the test clicks items by label. Of the roles only 'quit' works.
 * - app.quit() follows Electron's order (before-quit, windows close, will-quit, quit) and then
 *   exits the process, as Electron does. app.isPackaged is true when STANDIN_PACKAGED=1.
 *
 * The test controls it over the Node IPC channel of this process (tests/shell/harness.ts).
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Frame, type Page, type Route } from 'playwright-core';
import { LEFT_RUNNING, type ControlReply, type ControlRequest, type DialogAnswer, type StandinEvent } from './control.ts';

/** Wraps an object so that using anything it does not have fails with a clear message. */
function honest<T extends object>(name: string, target: T): T {
  return new Proxy(target, {
    get(t, prop) {
      if (typeof prop === 'symbol' || prop in t || prop === 'then' || prop === 'toJSON') {
        const value = Reflect.get(t, prop, t);
        // methods run on the object itself: its private fields are not the proxy's
        return typeof value === 'function' && prop !== 'constructor' ? value.bind(t) : value;
      }
      throw new Error(`electron stand-in: ${name}.${prop} is not supported by the stand-in`);
    },
  });
}

function notify(event: StandinEvent): void {
  process.send?.(event);
}

const MIME: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.json': 'application/json', '.woff2': 'font/woff2',
};

// ---------------------------------------------------------------------------------------------
// the Chromium connection and request routing

let browser: Browser | null = null;
let context: BrowserContext | null = null;
const schemeHandlers = new Map<string, (request: Request) => Response | Promise<Response>>();
const privilegedSchemes: { scheme: string; privileges?: Record<string, boolean> }[] = [];
let headersListener: ((details: { url: string; responseHeaders: Record<string, string[]> }, callback: (r: { responseHeaders?: Record<string, string[]> }) => void) => void) | null = null;

/** Response headers after session.webRequest.onHeadersReceived, as Chromium would apply them. */
function applyHeaderListener(url: string, headers: Record<string, string>): Promise<Record<string, string>> {
  if (!headersListener) return Promise.resolve(headers);
  const responseHeaders = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]));
  return new Promise((resolve) => headersListener!({ url, responseHeaders }, (r) => {
    resolve(Object.fromEntries(Object.entries(r.responseHeaders ?? responseHeaders).map(([k, v]) => [k, v.join(', ')])));
  }));
}

const STAND_IN_SUFFIX = '.standin';

/** What a window shows for a page of a handled scheme (see the header). */
function toStandInUrl(url: string): string {
  const u = new URL(url);
  const scheme = u.protocol.slice(0, -1);
  if (!schemeHandlers.has(scheme)) return url;
  return `http://${u.host}.${scheme}${STAND_IN_SUFFIX}${u.pathname}${u.search}${u.hash}`;
}

/** The handled-scheme URL a stand-in page URL names, or null. */
function fromStandInUrl(url: URL): URL | null {
  if (url.protocol !== 'http:' || !url.hostname.endsWith(STAND_IN_SUFFIX)) return null;
  const labels = url.hostname.slice(0, -STAND_IN_SUFFIX.length).split('.');
  const scheme = labels.pop()!;
  if (!schemeHandlers.has(scheme) || labels.length === 0) return null;
  return new URL(`${scheme}://${labels.join('.')}${url.pathname}${url.search}`);
}

async function serve(route: Route): Promise<void> {
  const request = route.request();
  const url = new URL(request.url());
  const standIn = fromStandInUrl(url);
  if (standIn) {
    const handler = schemeHandlers.get(standIn.protocol.slice(0, -1))!;
    const response = await handler(new Request(standIn.href, { method: request.method(), headers: request.headers() }));
    const headers = await applyHeaderListener(standIn.href, Object.fromEntries(response.headers.entries()));
    return route.fulfill({ status: response.status, headers, body: Buffer.from(await response.arrayBuffer()) });
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme === 'file') {
    let body: Buffer;
    try {
      body = readFileSync(fileURLToPath(url));
    } catch {
      return route.abort('filenotfound');
    }
    const headers = await applyHeaderListener(url.href, { 'content-type': MIME[extname(url.pathname)] ?? 'application/octet-stream' });
    return route.fulfill({ status: 200, headers, body });
  }
  const handler = schemeHandlers.get(scheme);
  if (handler) {
    const response = await handler(new Request(url.href, { method: request.method(), headers: request.headers() }));
    const headers = Object.fromEntries(response.headers.entries());
    return route.fulfill({ status: response.status, headers, body: Buffer.from(await response.arrayBuffer()) });
  }
  notify({ type: 'blocked', url: url.href });
  return route.abort('blockedbyclient');
}

const ready = (async () => {
  const endpoint = process.env.STANDIN_CDP_URL;
  if (!endpoint) throw new Error('electron stand-in: STANDIN_CDP_URL (the Chromium to show windows in) is not set');
  browser = await chromium.connectOverCDP(endpoint);
  context = browser.contexts()[0]!;
  await context.route(() => true, serve);
  await context.exposeBinding('__electronIpc', (source, kind: string, channel: string, args: unknown[]) => ipcFromPage(source.page, source.frame, kind, channel, args));
})();

// ---------------------------------------------------------------------------------------------
// app

/** STANDIN_PACKAGED=1: the app believes it is packaged, its resources beside it as electron-builder puts them. */
const packaged = process.env.STANDIN_PACKAGED === '1';
if (packaged) Object.defineProperty(process, 'resourcesPath', { value: process.env.STANDIN_APP_PATH ?? process.cwd() });

class App extends EventEmitter {
  isPackaged = packaged;
  #ready = false;
  #quitting = false;

  constructor() {
    super();
    ready.then(() => { this.#ready = true; this.emit('ready'); }, (err: Error) => { console.error(err.message); process.exit(1); });
  }

  whenReady(): Promise<void> { return ready; }
  isReady(): boolean { return this.#ready; }
  getAppPath(): string { return process.env.STANDIN_APP_PATH ?? process.cwd(); }
  getVersion(): string { return (JSON.parse(readFileSync(`${this.getAppPath()}/package.json`, 'utf8')) as { version: string }).version; }

  getPath(name: string): string {
    if (name === 'userData' && process.env.STANDIN_USER_DATA) return process.env.STANDIN_USER_DATA;
    throw new Error(`electron stand-in: app.getPath('${name}') is not supported by the stand-in (only 'userData', from STANDIN_USER_DATA)`);
  }

  /** The stand-in's windows are always sandboxed (it refuses others): nothing changes. */
  enableSandbox(): void {
    if (this.#ready) throw new Error('app.enableSandbox() must be called before the app is ready');
  }

  /** Only one instance is ever started by the tests: the lock is always ours, 'second-instance' never comes. */
  requestSingleInstanceLock(): boolean { return true; }

  get quitting(): boolean { return this.#quitting; }

  /** Electron's order: before-quit, every window closed (no window-all-closed), will-quit, quit, exit. */
  quit(): void {
    const before = preventable();
    this.emit('before-quit', before);
    if (before.defaultPrevented) return;
    this.#quitting = true;
    for (const win of [...BrowserWindow.windows]) {
      if (!win.close()) { this.#quitting = false; return; }
    }
    const willQuit = preventable();
    this.emit('will-quit', willQuit);
    if (willQuit.defaultPrevented) { this.#quitting = false; return; }
    this.emit('quit', preventable(), 0);
    this.exit(0);
  }

  /**
   * Electron ends the process here whatever is still running. The stand-in first lets it end by
   * itself, so a test sees what the app left behind: a worker thread or a connected child process
   * keeps Node alive, and then the stand-in says so before it exits like Electron.
   */
  exit(code = 0): void {
    process.exitCode = code;
    void (browser?.close() ?? Promise.resolve()).finally(() => {
      process.removeAllListeners('message');
      process.disconnect?.();
      setTimeout(() => {
        console.error(`electron stand-in: ${LEFT_RUNNING}`);
        process.exit(code);
      }, 5000).unref();
    });
  }
}

function preventable(): { defaultPrevented: boolean; preventDefault(): void } {
  const e = { defaultPrevented: false, preventDefault() { e.defaultPrevented = true; } };
  return e;
}

export const app = honest('app', new App());

// ---------------------------------------------------------------------------------------------
// windows

interface Rectangle { x: number; y: number; width: number; height: number }

class WebFrameMain {
  constructor(readonly frame: Frame) {}
  get url(): string { return this.frame.url(); }
}

const frames = new WeakMap<Frame, WebFrameMain>();
function frameMain(frame: Frame): WebFrameMain {
  let f = frames.get(frame);
  if (!f) { f = honest('WebFrameMain', new WebFrameMain(frame)); frames.set(frame, f); }
  return f;
}

class WebContents extends EventEmitter {
  windowOpenHandler: ((details: { url: string }) => { action: 'allow' | 'deny' }) | null = null;
  constructor(readonly win: BrowserWindow) { super(); }

  get mainFrame(): WebFrameMain { return frameMain(this.win.page!.mainFrame()); }
  isDestroyed(): boolean { return this.win.isDestroyed(); }
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'allow' | 'deny' }): void { this.windowOpenHandler = handler; }

  /** To the preload's ipcRenderer listeners of the main frame. */
  send(channel: string, ...args: unknown[]): void {
    const page = this.win.page;
    if (!page || this.win.isDestroyed()) return;
    void page.evaluate(([c, a]) => (window as any).__electronIpcDeliver?.(c, a), [channel, args] as const).catch(() => undefined);
  }
}

export class BrowserWindow extends EventEmitter {
  static windows: BrowserWindow[] = [];
  static getAllWindows(): BrowserWindow[] { return [...BrowserWindow.windows]; }

  readonly webContents: WebContents;
  page: Page | null = null;
  readonly options: Record<string, any>;
  #bounds: Rectangle;
  #maximized = false;
  #visible = false;
  #destroyed = false;
  readonly #opened: Promise<Page>;

  constructor(options: Record<string, any> = {}) {
    super();
    const prefs = options.webPreferences ?? {};
    // the app's windows must be what this emulates; anything else would test a different app
    if (prefs.contextIsolation !== true || prefs.sandbox !== true || prefs.nodeIntegration === true) {
      throw new Error('electron stand-in: only sandboxed, context-isolated windows without Node integration are supported by the stand-in');
    }
    this.options = options;
    this.#bounds = { x: options.x ?? 0, y: options.y ?? 0, width: options.width ?? 800, height: options.height ?? 600 };
    this.webContents = honest('webContents', new WebContents(this));
    BrowserWindow.windows.push(this);
    app.emit('web-contents-created', preventable(), this.webContents);
    this.#opened = this.#open(prefs.preload as string | undefined);
    notify({ type: 'window', options: JSON.parse(JSON.stringify(options)) as Record<string, unknown> });
    return honest('BrowserWindow', this);
  }

  async #open(preload: string | undefined): Promise<Page> {
    await ready;
    const page = await context!.newPage();
    this.page = page;
    await page.setViewportSize({ width: this.#bounds.width, height: this.#bounds.height });
    if (preload) await page.addInitScript({ content: preloadScript(readFileSync(preload, 'utf8')) });
    page.on('close', () => this.#closed());
    return page;
  }

  isDestroyed(): boolean { return this.#destroyed; }
  isVisible(): boolean { return this.#visible; }
  show(): void { this.#visible = true; this.emit('show'); }
  isMaximized(): boolean { return this.#maximized; }
  maximize(): void { if (!this.#maximized) { this.#maximized = true; this.emit('maximize'); this.emit('resize'); } }
  unmaximize(): void { if (this.#maximized) { this.#maximized = false; this.emit('unmaximize'); this.emit('resize'); } }
  getBounds(): Rectangle { return { ...this.#bounds }; }
  getNormalBounds(): Rectangle { return { ...this.#bounds }; }

  setBounds(b: Partial<Rectangle>): void {
    const old = this.#bounds;
    this.#bounds = { ...old, ...b };
    if (this.#bounds.width !== old.width || this.#bounds.height !== old.height) {
      void this.page?.setViewportSize({ width: this.#bounds.width, height: this.#bounds.height });
      this.emit('resize');
    }
    if (this.#bounds.x !== old.x || this.#bounds.y !== old.y) this.emit('move');
  }

  async loadFile(path: string): Promise<void> { await this.loadURL(pathToFileURL(path).href); }

  async loadURL(url: string): Promise<void> {
    const page = await this.#opened;
    await page.goto(toStandInUrl(url));
    this.emit('ready-to-show');
  }

  /** Emits 'close' (preventable), then closes the page; false when a listener kept it open. */
  close(): boolean {
    if (this.#destroyed) return true;
    const e = preventable();
    this.emit('close', e);
    if (e.defaultPrevented) return false;
    this.destroy();
    return true;
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    void this.page?.close().catch(() => undefined);
    this.#closed();
  }

  #closed(): void {
    if (!BrowserWindow.windows.includes(this)) return;
    this.#destroyed = true;
    BrowserWindow.windows = BrowserWindow.windows.filter((w) => w !== this);
    this.emit('closed');
    if (BrowserWindow.windows.length === 0 && !app.quitting) {
      // Electron quits by itself when nobody listens for window-all-closed
      if (app.listenerCount('window-all-closed') > 0) app.emit('window-all-closed');
      else app.quit();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the preload, as the page runs it

/**
 * The page-side script: the sandboxed preload's `require('electron')` and the built preload
 * itself, in the main frame only (Electron runs preloads in subframes only when asked to).
 */
function preloadScript(preloadSource: string): string {
  return `(() => {
  if (window !== window.top) return;
  const transport = window.__electronIpc;
  const listeners = new Map();
  const ipcRenderer = {
    invoke: (channel, ...args) => transport('invoke', channel, args),
    send: (channel, ...args) => { void transport('send', channel, args); },
    on(channel, listener) { if (!listeners.has(channel)) listeners.set(channel, new Set()); listeners.get(channel).add(listener); return ipcRenderer; },
    removeListener(channel, listener) { listeners.get(channel)?.delete(listener); return ipcRenderer; },
  };
  Object.defineProperty(window, '__electronIpcDeliver', { value: (channel, args) => {
    for (const l of listeners.get(channel) ?? []) l({ sender: ipcRenderer }, ...args);
  } });
  // contextBridge copies values across and proxies functions, copying their arguments and results
  const copy = (v) => (typeof v === 'function' ? bridged(v) : v !== null && typeof v === 'object' ? Object.freeze(Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)]))) : v);
  const bridged = (fn) => (...args) => {
    const r = fn(...args.map((a) => (typeof a === 'function' ? a : structuredClone(a))));
    return r instanceof Promise ? r.then((x) => structuredClone(x)) : typeof r === 'function' ? bridged(r) : structuredClone(r);
  };
  const contextBridge = {
    exposeInMainWorld(key, api) { Object.defineProperty(window, key, { value: copy(api), enumerable: true }); },
  };
  const require = (name) => {
    if (name === 'electron') return { contextBridge, ipcRenderer };
    throw new Error('module not found: ' + name + ' (the stand-in offers a sandboxed preload only electron)');
  };
  const module = { exports: {} };
  (function (require, module, exports) {
${preloadSource}
  })(require, module, module.exports);
})();`;
}

// ---------------------------------------------------------------------------------------------
// IPC

type Handler = (event: unknown, ...args: unknown[]) => unknown;

class IpcMain extends EventEmitter {
  readonly handlers = new Map<string, Handler>();
  handle(channel: string, handler: Handler): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, handler);
  }
  removeHandler(channel: string): void { this.handlers.delete(channel); }
}

export const ipcMain = honest('ipcMain', new IpcMain());

async function ipcFromPage(page: Page, frame: Frame, kind: string, channel: string, args: unknown[]): Promise<unknown> {
  const win = BrowserWindow.windows.find((w) => w.page === page);
  const event = { sender: win?.webContents ?? null, senderFrame: frameMain(frame) };
  if (kind === 'send') { ipcMain.emit(channel, event, ...args); return undefined; }
  const handler = ipcMain.handlers.get(channel);
  if (!handler) throw new Error(`Error invoking remote method '${channel}': Error: No handler registered for '${channel}'`);
  try {
    return await handler(event, ...args);
  } catch (err) {
    // Electron gives the renderer only the message, with this prefix
    throw new Error(`Error invoking remote method '${channel}': ${String(err)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// protocol, session, dialog, Menu

export const protocol = honest('protocol', {
  registerSchemesAsPrivileged(schemes: { scheme: string; privileges?: Record<string, boolean> }[]): void {
    if (app.isReady()) throw new Error('protocol.registerSchemesAsPrivileged must be called before the app is ready');
    privilegedSchemes.push(...schemes);
  },
  handle(scheme: string, handler: (request: Request) => Response | Promise<Response>): void {
    if (!privilegedSchemes.some((s) => s.scheme === scheme)) throw new Error(`electron stand-in: ${scheme}: only schemes registered as privileged are supported by the stand-in`);
    schemeHandlers.set(scheme, handler);
  },
});

const defaultSession = honest('session.defaultSession', {
  permissionRequestHandler: null as unknown,
  permissionCheckHandler: null as unknown,
  webRequest: honest('webRequest', {
    onHeadersReceived(listener: typeof headersListener): void { headersListener = listener; },
  }),
  /** Kept, never asked: a headless page requests no permissions the stand-in could route here. */
  setPermissionRequestHandler(h: unknown): void { defaultSession.permissionRequestHandler = h; },
  setPermissionCheckHandler(h: unknown): void { defaultSession.permissionCheckHandler = h; },
  devicePermissionHandler: null as unknown,
  /** Kept, never asked, like the two above (no device chooser in a headless page). */
  setDevicePermissionHandler(h: unknown): void { defaultSession.devicePermissionHandler = h; },
});

export const session = honest('session', { defaultSession });

const answers: { open: DialogAnswer[]; save: DialogAnswer[] } = { open: [], save: [] };

export const dialog = honest('dialog', {
  async showOpenDialog(winOrOptions: unknown, maybeOptions?: Record<string, unknown>): Promise<{ canceled: boolean; filePaths: string[] }> {
    const options = (maybeOptions ?? winOrOptions) as Record<string, unknown>;
    notify({ type: 'dialog', kind: 'open', options: JSON.parse(JSON.stringify(options)) as Record<string, unknown> });
    const a = answers.open.shift() ?? null;
    return a ? { canceled: false, filePaths: a } : { canceled: true, filePaths: [] };
  },
  async showSaveDialog(winOrOptions: unknown, maybeOptions?: Record<string, unknown>): Promise<{ canceled: boolean; filePath: string }> {
    const options = (maybeOptions ?? winOrOptions) as Record<string, unknown>;
    notify({ type: 'dialog', kind: 'save', options: JSON.parse(JSON.stringify(options)) as Record<string, unknown> });
    const a = answers.save.shift() ?? null;
    return a ? { canceled: false, filePath: a[0]! } : { canceled: true, filePath: '' };
  },
});

interface MenuItemOptions { label?: string; role?: string; type?: string; submenu?: MenuItemOptions[]; click?: (item: unknown, win: unknown, event: unknown) => void }

class MenuStandin {
  constructor(readonly items: MenuItemOptions[]) {}
}

let applicationMenu: MenuStandin | null = null;

export const Menu = honest('Menu', {
  buildFromTemplate(template: MenuItemOptions[]): MenuStandin { return honest('Menu', new MenuStandin(template)); },
  setApplicationMenu(menu: MenuStandin | null): void { applicationMenu = menu; },
  getApplicationMenu(): MenuStandin | null { return applicationMenu; },
});

/** What a click on a menu item does; roles other than quit belong to a real Electron. */
function clickMenu(path: string[]): void {
  let items = applicationMenu?.items ?? [];
  let item: MenuItemOptions | undefined;
  for (const label of path) {
    item = items.find((i) => (i.label ?? i.role) === label);
    if (!item) throw new Error(`no menu item "${label}" in ${path.join(' > ')}`);
    items = item.submenu ?? [];
  }
  if (item?.click) item.click(item, BrowserWindow.windows[0] ?? null, {});
  else if (item?.role === 'quit') app.quit();
  else throw new Error(`electron stand-in: the menu role "${item?.role}" is not supported by the stand-in`);
}

// ---------------------------------------------------------------------------------------------
// the test's control channel

process.on('message', (m: ControlRequest) => {
  const reply = (r: Omit<ControlReply, 'id' | 'type'>) => process.send?.({ type: 'reply', id: m.id, ...r } satisfies ControlReply);
  try {
    const win = BrowserWindow.windows[0];
    switch (m.op) {
      case 'menu': clickMenu(m.path); return reply({});
      case 'answer': answers[m.kind].push(m.answer); return reply({});
      case 'setBounds': win!.setBounds(m.bounds); return reply({});
      case 'close': win!.close(); return reply({});
      case 'state': return reply({ value: { bounds: win?.getBounds() ?? null, maximized: win?.isMaximized() ?? false, visible: win?.isVisible() ?? false, menu: applicationMenu?.items.map((i) => i.label ?? i.role ?? '') ?? [] } });
    }
  } catch (err) {
    reply({ error: (err as Error).message });
  }
});

export default { app, BrowserWindow, dialog, ipcMain, Menu, protocol, session };
