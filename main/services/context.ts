/**
 * What the API handlers need from their host (main/app in the app, the harness in end-to-end
 * tests): where app data lives, the user's dialogs, a way to push events, how image URLs look,
 * and the SAM engine. main/api never imports electron; the host supplies these.
 */
import type { ApiEvent, DialogFilter } from '../../preload/contract/index.ts';
import type { Engine } from '../sam/engine.ts';

export interface Dialogs {
  openFiles(opts: { title: string; filters: DialogFilter[]; multiple: boolean }): Promise<string[]>;
  openFolder(opts: { title: string }): Promise<string | null>;
  saveFile(opts: { title: string; filters: DialogFilter[]; defaultName: string }): Promise<string | null>;
}

export interface ApiContext {
  /** per-user data: prefs.json, models/, the sample project */
  appDataDir: string;
  /** the app's bundled resources (resources/ in the repository) */
  resourcesDir: string;
  dialogs: Dialogs;
  emit(event: ApiEvent): void;
  /** prefix of image URLs for a project opened `generation`-th (so caches never mix projects) */
  imageUrlBase(generation: number): string;
  /** the engine the SAM handlers use (created by the host: worker threads, execution provider) */
  engine: Engine;
  /** the execution provider the engine was created with, shown in the status bar */
  executionProvider: string;
}
