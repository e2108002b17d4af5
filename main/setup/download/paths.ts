/**
 * Where the app keeps re-creatable data: downloads in progress, downloaded checkpoints and the
 * fp32 model directories built on the way to a quantized one. XDG on Linux, the platform's cache
 * folder elsewhere.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

const appFolder = 'ptq4sam-studio';

export function appCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return join(env.LOCALAPPDATA || join(homedir(), 'AppData', 'Local'), appFolder, 'Cache');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Caches', appFolder);
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), appFolder);
}

/** Partial files and finished downloads. */
export function downloadsDir(cacheDir: string): string {
  return join(cacheDir, 'downloads');
}
