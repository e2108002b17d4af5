/**
 * main/app: the Electron shell, the only part of main/ that imports electron. It makes the
 * window (contextIsolation, sandbox, no nodeIntegration, the renderer served from `studio-app:`
 * rather than file://, a CSP on every response, no remote
 * content, no new windows or navigation, no permissions, one instance, DevTools only in
 * development), serves the open project's images through the
 * `studio-image:` protocol, registers the API handlers of main/api on one IPC channel (checking
 * that the sender is our main frame), and provides native menus and dialogs. Window state is
 * remembered in the app's data folder. Tested as built (out/) under a stand-in electron module
 * in Chromium (tests/shell); the README lists what only a real Electron shows.
 */
import { app, BrowserWindow, dialog, ipcMain, protocol, session } from 'electron';
import { join } from 'node:path';
import { createHandlers } from '../api/handlers.ts';
import { CHANNEL_CALL, CHANNEL_EVENT, packMaskViews, type ApiEvent } from '../../preload/contract/index.ts';
import { answer } from '../../preload/contract/rpc.ts';
import { createEngine } from '../sam/engine.ts';
import { buildMenu } from './menu.ts';
import { APP_SCHEME, IMAGE_SCHEME, registerAppProtocol, registerImageProtocol } from './protocol.ts';
import { loadWindowState, trackWindowState } from './window-state.ts';

const CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", `img-src 'self' ${IMAGE_SCHEME}: blob: data:`,
  "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

protocol.registerSchemesAsPrivileged([
  { scheme: IMAGE_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  // the renderer's own origin (module scripts are fetched in CORS mode)
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true } },
]);

async function main(): Promise<void> {
  // one instance: two would race on the preferences, the window state and the model folders
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  await app.whenReady();
  const appDataDir = app.getPath('userData');
  const resourcesDir = app.isPackaged ? join(process.resourcesPath, 'resources') : join(app.getAppPath(), 'resources');
  const executionProvider = 'cpu';
  const engine = await createEngine({ threads: 0, executionProvider, workerPath: join(import.meta.dirname, 'engine-worker.js') });

  let win: BrowserWindow | null = null;
  const emit = (e: ApiEvent) => { if (win && !win.isDestroyed()) win.webContents.send(CHANNEL_EVENT, e); };
  const { handlers, session: apiSession } = createHandlers({
    appDataDir, resourcesDir, emit, engine, executionProvider,
    imageUrlBase: (generation) => `${IMAGE_SCHEME}://project/${generation}/`,
    dialogs: {
      async openFiles(o) {
        const r = await dialog.showOpenDialog(win!, { title: o.title, filters: o.filters, properties: o.multiple ? ['openFile', 'multiSelections'] : ['openFile'] });
        return r.canceled ? [] : r.filePaths;
      },
      async openFolder(o) {
        const r = await dialog.showOpenDialog(win!, { title: o.title, properties: ['openDirectory', 'createDirectory'] });
        return r.canceled ? null : r.filePaths[0] ?? null;
      },
      async saveFile(o) {
        const r = await dialog.showSaveDialog(win!, { title: o.title, filters: o.filters, defaultPath: o.defaultName });
        return r.canceled ? null : r.filePath ?? null;
      },
    },
  });

  registerImageProtocol(apiSession);
  registerAppProtocol(join(import.meta.dirname, '../renderer'));
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  // the page needs no permission (camera, notifications, USB, ...): asked or checked, the answer is no
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  session.defaultSession.setDevicePermissionHandler(() => false);

  ipcMain.handle(CHANNEL_CALL, async (event, request: unknown) => {
    // only our own top frame may call: no iframes, no other windows
    if (!win || event.sender !== win.webContents || event.senderFrame !== win.webContents.mainFrame) throw new Error('API call from an unknown frame');
    // mask views cross packed (a smooth 320x240 mask: under a kilobyte); the preload unpacks them
    return packMaskViews(await answer(handlers, request));
  });

  const state = loadWindowState(appDataDir);
  win = new BrowserWindow({
    ...state.bounds, show: false, title: 'PTQ4SAM Studio', backgroundColor: '#16181d',
    webPreferences: {
      preload: join(import.meta.dirname, '../preload/index.cjs'),
      contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, spellcheck: false,
      devTools: !app.isPackaged,
    },
  });
  if (state.maximized) win.maximize();
  trackWindowState(win, appDataDir);
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  win.webContents.on('will-navigate', (e) => e.preventDefault());
  buildMenu((command) => emit({ type: 'menu', command }), { devTools: !app.isPackaged });
  app.on('second-instance', () => {
    if (!win || win.isDestroyed()) return;
    if (win.isMinimized()) win.restore();
    win.focus();
  });
  win.once('ready-to-show', () => win?.show());

  // Closing the window quits (every platform: one window is the whole app). Cleanup waits in
  // will-quit, which both ways of quitting pass (the window's close box, File > Quit);
  // window-all-closed is not emitted when the quit starts from the menu.
  app.on('window-all-closed', () => app.quit());
  let cleanedUp = false;
  app.on('will-quit', (e) => {
    if (cleanedUp) return;
    e.preventDefault();
    apiSession.close();
    void engine.dispose().finally(() => { cleanedUp = true; app.quit(); });
  });

  // only electron-vite's dev server sets the URL; a packaged app never loads one from outside
  const devUrl = app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL;
  if (devUrl) await win.loadURL(devUrl);
  else await win.loadURL(`${APP_SCHEME}://renderer/index.html`);
}

void main();
