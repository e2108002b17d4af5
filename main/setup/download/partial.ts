/**
 * Partial downloads in the cache directory: `<key>.part` holds the bytes received so far and
 * `<key>.part.json` what they are a prefix of (URL, validators, expected hash, size). A partial
 * file is only ever renamed into place after its hash matched, so it is never taken for a model.
 * `<key>.part.lock` (the owner's pid) keeps two processes from appending to the same file.
 */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { DownloadError, errnoCode } from './errors.ts';
import { join } from 'node:path';
import type { ExpectedHash } from './hash.ts';

export interface PartialInfo {
  url: string;
  etag?: string;
  lastModified?: string;
  algorithm: ExpectedHash['algorithm'];
  digest: string;
  /** size of the whole file as the server announced it, when it did */
  totalBytes?: number;
}

export interface PartialPaths {
  data: string;
  sidecar: string;
}

/** A cache key readable by a person: the URL's file name plus the start of the expected digest. */
export function partialPaths(cacheDir: string, url: string, expected: ExpectedHash): PartialPaths {
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() || 'download').replace(/[^A-Za-z0-9._-]/g, '_');
  const key = `${name}-${expected.digest.slice(0, 12)}`;
  return { data: join(cacheDir, `${key}.part`), sidecar: join(cacheDir, `${key}.part.json`) };
}

/** The bytes already on disk for this URL and hash, or 0 after discarding anything unusable. */
export function readPartial(paths: PartialPaths, url: string, expected: ExpectedHash): { bytes: number; info: PartialInfo | undefined } {
  if (!existsSync(paths.data)) {
    rmSync(paths.sidecar, { force: true });
    return { bytes: 0, info: undefined };
  }
  let info: PartialInfo | undefined;
  try {
    info = JSON.parse(readFileSync(paths.sidecar, 'utf8')) as PartialInfo;
  } catch {
    info = undefined;
  }
  const matches = info && info.url === url && info.algorithm === expected.algorithm && info.digest === expected.digest;
  const bytes = statSync(paths.data).size;
  if (!matches || (info!.totalBytes !== undefined && bytes > info!.totalBytes)) {
    discardPartial(paths);
    return { bytes: 0, info: undefined };
  }
  return { bytes, info };
}

export function writeSidecar(paths: PartialPaths, info: PartialInfo): void {
  const tmp = `${paths.sidecar}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info, null, 1)}\n`);
  renameSync(tmp, paths.sidecar);
}

export function discardPartial(paths: PartialPaths): void {
  rmSync(paths.data, { force: true });
  rmSync(paths.sidecar, { force: true });
}

/** Locks held by this process (a lock file with our pid that is not here is a stale one from a reused pid). */
const heldLocks = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/** Takes the partial file's lock, replacing a stale one; returns its release. */
export function lockPartial(paths: PartialPaths, url: string): () => void {
  const lock = `${paths.data}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      heldLocks.add(lock);
      return () => {
        heldLocks.delete(lock);
        rmSync(lock, { force: true });
      };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    const owner = Number(readFileSync(lock, 'utf8'));
    const live = Number.isInteger(owner) && owner > 0 && (owner === process.pid ? heldLocks.has(lock) : processAlive(owner));
    if (live) throw new DownloadError('busy', `${url} is already being downloaded by process ${owner} (lock file ${lock})`);
    rmSync(lock, { force: true });
  }
  throw new DownloadError('busy', `cannot take the download lock ${lock}`);
}
