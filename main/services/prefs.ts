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

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isNullableString = (v: unknown): v is string | null => v === null || typeof v === 'string';

/**
 * The saved preferences, field by field: a field of the wrong shape (hand-edited, or written by
 * another version) falls back to its default instead of stopping the app at start.
 */
function withValidFields(saved: unknown): AppPrefs {
  const prefs = structuredClone(DEFAULTS);
  if (!isObject(saved)) return prefs;
  if (isStringList(saved.recentProjects)) prefs.recentProjects = saved.recentProjects;
  if (isNullableString(saved.activeModelId)) prefs.activeModelId = saved.activeModelId;
  if (isNullableString(saved.catalog)) prefs.catalog = saved.catalog;
  if (isObject(saved.ui)) {
    for (const [key, value] of Object.entries(saved.ui)) {
      if (['string', 'number', 'boolean'].includes(typeof value)) prefs.ui[key] = value as PrefValue;
    }
  }
  const setup = saved.setup;
  if (isObject(setup)) {
    if (isStringList(setup.done)) prefs.setup.done = setup.done;
    if (setup.choice === null || (isObject(setup.choice) && typeof setup.choice.catalogId === 'string' && typeof setup.choice.bits === 'string')) prefs.setup.choice = setup.choice as SetupChoice | null;
    if (isNullableString(setup.modelId)) prefs.setup.modelId = setup.modelId;
    if (typeof setup.skipped === 'boolean') prefs.setup.skipped = setup.skipped;
  }
  return prefs;
}

export class PrefsFile {
  readonly path: string;
  #prefs: AppPrefs;

  constructor(appDataDir: string) {
    this.path = join(appDataDir, 'prefs.json');
    this.#prefs = structuredClone(DEFAULTS);
    let saved: unknown;
    try {
      saved = JSON.parse(readFileSync(this.path, 'utf8'));
    } catch {
      // missing or unreadable: defaults (the file is rewritten on the next change)
    }
    this.#prefs = withValidFields(saved);
  }

  get(): AppPrefs { return this.#prefs; }

  update(change: (p: AppPrefs) => void): void {
    change(this.#prefs);
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileAtomic(this.path, JSON.stringify(this.#prefs, null, 1));
  }
}
