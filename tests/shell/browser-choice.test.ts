/**
 * Which browser the end-to-end tests use (tests/helpers/browser.ts): an executable Chromium found
 * on the PATH in PATH order, else Playwright's own download, else one line saying how to get one;
 * the Electron binary first where `npm install` downloaded it.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { findChromium, findElectron, launchTestBrowser, NO_CHROMIUM } from '../helpers/browser.ts';

const dir = mkdtempSync(join(tmpdir(), 'studio-browser-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeBinary(folder: string, name: string, executable: boolean): string {
  mkdirSync(join(dir, folder), { recursive: true });
  const file = join(dir, folder, name);
  writeFileSync(file, '#!/bin/sh\n');
  chmodSync(file, executable ? 0o755 : 0o644);
  return file;
}

describe('the end-to-end tests\' browser', () => {
  it('is the first executable Chromium on the PATH, whatever its folder', () => {
    fakeBinary('a', 'chromium', false);
    const chrome = fakeBinary('b', 'google-chrome', true);
    fakeBinary('c', 'chromium', true);
    expect(findChromium([join(dir, 'a'), join(dir, 'b'), join(dir, 'c')].join(delimiter))).toBe(chrome);
  });

  it('is Playwright\'s own Chromium, or none, when the PATH has no Chromium', () => {
    const managed = chromium.executablePath();
    expect(findChromium(join(dir, 'a'))).toBe(existsSync(managed) ? managed : null);
    expect(NO_CHROMIUM).toMatch(/^No Chromium for the end-to-end tests: install one \(Debian\/Ubuntu: apt-get install chromium; elsewhere: npx playwright-core install chromium\)/);
  });

  it('is the Electron binary where installed, else the Chromium found here, and it runs', async () => {
    const browser = await launchTestBrowser({ width: 320, height: 200 });
    try {
      expect(browser.kind).toBe(findElectron() ? 'electron' : 'chromium');
      if (browser.kind === 'chromium') expect(browser.executablePath).toBe(findChromium());
      const page = await browser.newPage();
      await page.setContent('<p>hello</p>');
      expect(await page.evaluate(() => [document.body.textContent, window.innerWidth, window.innerHeight])).toEqual(['hello', 320, 200]);
    } finally {
      await browser.close();
    }
  });
});
