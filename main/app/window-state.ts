/** The window's size, position and maximized state, remembered between runs. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserWindow, Rectangle } from 'electron';

interface WindowState { bounds: Partial<Rectangle> & { width: number; height: number }; maximized: boolean }

const DEFAULT: WindowState = { bounds: { width: 1400, height: 900 }, maximized: false };

export function loadWindowState(appDataDir: string): WindowState {
  try {
    const s = JSON.parse(readFileSync(join(appDataDir, 'window.json'), 'utf8')) as WindowState;
    if (s.bounds.width >= 400 && s.bounds.height >= 300) return s;
  } catch {
    // first run or unreadable: defaults
  }
  return DEFAULT;
}

export function trackWindowState(win: BrowserWindow, appDataDir: string): void {
  let timer: NodeJS.Timeout | null = null;
  const save = () => {
    if (win.isDestroyed()) return;
    const state: WindowState = { bounds: win.getNormalBounds(), maximized: win.isMaximized() };
    try { writeFileSync(join(appDataDir, 'window.json'), JSON.stringify(state)); } catch { /* not worth failing over */ }
  };
  const later = () => { if (timer) clearTimeout(timer); timer = setTimeout(save, 500); };
  win.on('resize', later);
  win.on('move', later);
  win.on('close', save);
}
