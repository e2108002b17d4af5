/**
 * The browser the end-to-end tests run the renderer in, chosen explicitly: the Electron binary
 * through Playwright's Electron support where `npm install` downloaded it (users' machines), else
 * a Chromium on the PATH (build machines: Debian's `chromium`), else Playwright's own download,
 * else one line saying how to get one. Tests that need a plain Chromium (tests/shell drives the
 * page from two processes over the DevTools protocol) ask for `findChromium` alone.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { _electron, chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

export const NO_CHROMIUM = 'No Chromium for the end-to-end tests: install one (Debian/Ubuntu: apt-get install chromium; elsewhere: npx playwright-core install chromium), or put yours on the PATH as "chromium".';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A Chromium on the PATH, else the one `npx playwright-core install chromium` downloads, else null. */
export function findChromium(path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    for (const name of CHROMIUM_NAMES) {
      const file = join(dir, name);
      if (isExecutable(file)) return file;
    }
  }
  const managed = chromium.executablePath();
  return existsSync(managed) ? managed : null;
}

/** The Electron binary `npm install` downloaded, or null (ELECTRON_SKIP_BINARY_DOWNLOAD). */
export function findElectron(): string | null {
  try {
    const path = createRequire(import.meta.url)('electron') as string;
    return existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

export interface TestBrowser {
  kind: 'electron' | 'chromium';
  executablePath: string;
  context: BrowserContext;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchTestBrowser(viewport: { width: number; height: number }): Promise<TestBrowser> {
  const electron = findElectron();
  if (electron) {
    const app = await _electron.launch({ executablePath: electron, args: [join(import.meta.dirname, 'electron-test-browser.mjs')] });
    const context = app.context();
    return {
      kind: 'electron', executablePath: electron, context,
      async newPage() {
        const [page] = await Promise.all([
          app.waitForEvent('window'),
          app.evaluate(({ BrowserWindow }, size) => {
            // hidden, but painting and running timers and animation frames as a visible window does
            const win = new BrowserWindow({ ...size, useContentSize: true, show: false, paintWhenInitiallyHidden: true, webPreferences: { sandbox: true, contextIsolation: true, backgroundThrottling: false } });
            void win.loadURL('about:blank');
          }, viewport),
        ]);
        return page;
      },
      close: () => app.close(),
    };
  }
  const executablePath = findChromium();
  if (!executablePath) throw new Error(NO_CHROMIUM);
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  return { kind: 'chromium', executablePath, context, newPage: () => context.newPage(), close: () => browser.close() };
}
