/** App-wide preferences (not per project): a small JSON file written atomically. */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { SetupChoice } from '../../preload/contract/index.ts';
import { writeFileAtomic } from '../base/index.ts';

export type PrefValue = string | number | boolean;

export interface AppPrefs {
  recentProjects: string[];
  activeModelId: string | null;
  setup: { done: string[]; choice: SetupChoice | null; modelId: string | null; skipped: boolean };
  /** the model catalog (a file or an http(s) URL) instead of the bundled one */
  catalog: string | null;
  ui: Record<string, PrefValue>;
}

const DEFAULTS: AppPrefs = { recentProjects: [], activeModelId: null, setup: { done: [], choice: null, modelId: null, skipped: false }, catalog: null, ui: {} };

export class PrefsFile {
  readonly path: string;
  #prefs: AppPrefs;

  constructor(appDataDir: string) {
    this.path = join(appDataDir, 'prefs.json');
    this.#prefs = structuredClone(DEFAULTS);
    try {
      this.#prefs = { ...this.#prefs, ...JSON.parse(readFileSync(this.path, 'utf8')) };
    } catch {
      // missing or unreadable: defaults (the file is rewritten on the next change)
    }
  }

  get(): AppPrefs { return this.#prefs; }

  update(change: (p: AppPrefs) => void): void {
    change(this.#prefs);
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileAtomic(this.path, JSON.stringify(this.#prefs, null, 1));
  }
}
