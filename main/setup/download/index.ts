/**
 * main/sam/download: the download manager for model files. It owns HTTP(S) transfers with
 * redirects and environment proxies, resume through Range/If-Range from partial files kept in the
 * app's download cache (never in a model directory), a stall timeout, incremental sha256/md5
 * verification, a free-space check, atomic placement, progress and cancel. Plain Node: no
 * electron. Tests: tests/download/.
 */
import { copyFileSync, mkdirSync, renameSync, rmSync, statfsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DownloadError, errnoCode, isDiskFull, networkError } from './errors.ts';
import { hashFilePrefix, newHasher, type ExpectedHash } from './hash.ts';
import { openGet, type OpenResponse } from './http.ts';
import { discardPartial, lockPartial, partialPaths, readPartial, writeSidecar, type PartialInfo, type PartialPaths } from './partial.ts';
import { formatBytes, ProgressMeter, type DownloadProgress } from './progress.ts';

export { DownloadError, type DownloadErrorCode } from './errors.ts';
export type { ExpectedHash, HashAlgorithm } from './hash.ts';
export { describeProgress, formatBytes, type DownloadProgress } from './progress.ts';
export { appCacheDir, downloadsDir } from './paths.ts';

export interface DownloadRequest {
  url: string;
  expected: ExpectedHash;
  /** where the verified file ends up (renamed into place; never exists half-written) */
  dest: string;
  /** holds `<name>.part` and its `.part.json` sidecar until the file is verified */
  cacheDir: string;
  /** advisory size (the catalog's), for the free-space check before the server answers */
  bytes?: number;
  /**
   * A source without a published digest that the user chose anyway (a catalog entry's size-checked
   * alternative): the file is accepted when it has exactly this many bytes, and `expected.digest`
   * is not compared (it only names the partial file). The result's digest is what arrived.
   */
  sizeOnly?: number;
  /** default 30 s */
  stallTimeoutMs?: number;
  /** default 10 */
  maxRedirects?: number;
  /** automatic resumes after a lost connection or a stall, default 2 */
  retries?: number;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** where proxy variables are read, default process.env */
  env?: NodeJS.ProcessEnv;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** hex digest in the expected algorithm */
  digest: string;
  /** bytes that were already in the cache when the final attempt started */
  resumedFromBytes: number;
}

export const defaultStallTimeoutMs = 30_000;
const retryDelayMs = 1000;
/** The most a download of unknown size may take when the catalog gives no size either. */
const maxUnsizedBytes = 64 * 1024 ** 3;

/** Downloads `url` to `dest`, resuming a previous partial file, and verifies its hash. */
export async function downloadFile(request: DownloadRequest): Promise<DownloadResult> {
  const attempts = (request.retries ?? 2) + 1;
  mkdirSync(request.cacheDir, { recursive: true });
  const release = lockPartial(partialPaths(request.cacheDir, request.url, request.expected), request.url);
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await attemptDownload(request);
      } catch (err) {
        const retry = err instanceof DownloadError && err.transient && attempt < attempts && !request.signal?.aborted;
        if (!retry) throw err;
        await delay(retryDelayMs * attempt, undefined, { signal: request.signal }).catch(() => {
          throw new DownloadError('cancelled', `download of ${request.url} cancelled`);
        });
      }
    }
  } finally {
    release();
  }
}

function checkFreeSpace(dir: string, neededBytes: number, url: string): void {
  if (neededBytes <= 0) return;
  const stats = statfsSync(dir);
  const free = stats.bavail * stats.bsize;
  if (free < neededBytes) {
    throw new DownloadError('no-space', `not enough free space in ${dir} to download ${url}: needs ${formatBytes(neededBytes)}, ${formatBytes(free)} free`);
  }
}

function strongEtag(etag: string | undefined): string | undefined {
  return etag && !etag.startsWith('W/') ? etag : undefined;
}

/** "bytes 100-199/1000" -> { start: 100, total: 1000 } */
function parseContentRange(header: string | undefined): { start: number; total: number | undefined } | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (!match) return undefined;
  return { start: Number(match[1]), total: match[2] === '*' ? undefined : Number(match[2]) };
}

async function attemptDownload(request: DownloadRequest): Promise<DownloadResult> {
  const { url, expected, cacheDir } = request;
  if (request.signal?.aborted) throw new DownloadError('cancelled', `download of ${url} cancelled`);
  const paths = partialPaths(cacheDir, url, expected);
  const meter = new ProgressMeter(url, request.onProgress);
  const partial = readPartial(paths, url, expected);
  const info = partial.info;
  let existing = partial.bytes;
  let hasher = newHasher(expected);
  if (existing > 0) {
    meter.setPhase('checking-partial');
    await hashFilePrefix(paths.data, existing, hasher, request.signal).catch((err: unknown) => {
      if (request.signal?.aborted) throw new DownloadError('cancelled', `download of ${url} cancelled`);
      throw err;
    });
    if (info?.totalBytes === existing) return finish(request, paths, hasher.digest('hex'), existing, existing, meter);
  }
  checkFreeSpace(cacheDir, (info?.totalBytes ?? request.bytes ?? 0) - existing, url);

  const headers: Record<string, string> = {};
  if (existing > 0) {
    headers.range = `bytes=${existing}-`;
    const validator = strongEtag(info?.etag) ?? info?.lastModified;
    if (validator) headers['if-range'] = validator;
  }
  meter.setPhase('connecting');
  const opened = await openGet(url, {
    headers,
    stallTimeoutMs: request.stallTimeoutMs ?? defaultStallTimeoutMs,
    maxRedirects: request.maxRedirects ?? 10,
    signal: request.signal,
    env: request.env,
  });
  try {
    const { response } = opened;
    const status = response.statusCode ?? 0;
    const etag = response.headers.etag;
    const lastModified = response.headers['last-modified'];
    let total: number | undefined;
    if (status === 206 && existing > 0) {
      const range = parseContentRange(response.headers['content-range']);
      const changed = info?.etag !== undefined && etag !== undefined && etag !== info.etag;
      if (!range || range.start !== existing || changed) {
        // the server sent a different range or a different file: start over on the next attempt
        discardPartial(paths);
        throw new DownloadError('bad-response', `${url}: the server answered the resume request with a different ${changed ? 'file' : 'range'}; starting over`);
      }
      total = range.total;
    } else if (status === 200) {
      // a full body: the server ignored Range, or the file changed since the partial was written
      if (existing > 0) {
        existing = 0;
        hasher = newHasher(expected);
      }
      const length = Number(response.headers['content-length']);
      total = Number.isFinite(length) && response.headers['content-length'] !== undefined ? length : undefined;
    } else if (status === 416) {
      discardPartial(paths);
      throw new DownloadError('bad-response', `${url}: the server cannot resume at byte ${existing} (HTTP 416); starting over`);
    } else if (status === 404) {
      throw new DownloadError('not-found', `${opened.url.href} not found (HTTP 404)`);
    } else {
      throw new DownloadError('http', `${opened.url.href}: HTTP ${status} ${response.statusMessage ?? ''}`.trimEnd());
    }
    if (total !== undefined) checkFreeSpace(cacheDir, total - existing, url);
    const sidecar: PartialInfo = { url, algorithm: expected.algorithm, digest: expected.digest };
    if (etag) sidecar.etag = etag;
    if (lastModified) sidecar.lastModified = lastModified;
    if (total !== undefined) sidecar.totalBytes = total;
    writeSidecar(paths, sidecar);

    const resumedFrom = existing;
    meter.start(existing, total ?? request.bytes);
    // without a Content-Length the body has no end the server promised: stop at twice the
    // catalog's size (the hash would refuse more anyway) rather than fill the disk
    const limit = total ?? (request.bytes !== undefined ? 2 * request.bytes : maxUnsizedBytes);
    let received: number;
    try {
      received = await receiveBody(opened, paths.data, existing, limit, (chunk) => {
        hasher.update(chunk);
        meter.add(chunk.length);
      });
    } catch (err) {
      // a partial file that filled the disk, or one past any sensible size, is of no use to a resume
      if (err instanceof DownloadError && (err.code === 'disk-full' || err.code === 'too-large')) discardPartial(paths);
      throw err;
    }
    if (total !== undefined && received !== total) {
      throw new DownloadError('connection-lost', `connection to ${opened.url.host} ended after ${received} of ${total} bytes; run again to resume`);
    }
    return finish(request, paths, hasher.digest('hex'), received, resumedFrom, meter);
  } finally {
    opened.close();
    opened.response.destroy();
  }
}

/** Appends the body to the partial file (from `offset`); returns the file's size at the end. */
async function receiveBody(opened: OpenResponse, file: string, offset: number, limit: number, onChunk: (chunk: Buffer) => void): Promise<number> {
  let handle: FileHandle;
  try {
    handle = await open(file, offset > 0 ? 'r+' : 'w');
  } catch (err) {
    throw new DownloadError('io', `cannot write ${file}: ${errnoCode(err) ?? String(err)}`);
  }
  let position = offset;
  try {
    if (offset > 0) await handle.truncate(offset);
    try {
      for await (const chunk of opened.response as AsyncIterable<Buffer>) {
        opened.touch();
        if (position + chunk.length > limit) {
          throw new DownloadError('too-large', `${opened.url.href} sent more than ${formatBytes(limit)} without giving its size; the download was stopped and deleted`);
        }
        await writeAll(handle, chunk, position, file);
        position += chunk.length;
        onChunk(chunk);
      }
    } catch (err) {
      if (err instanceof DownloadError) throw err;
      throw networkError(err, opened.url.host, position);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return position;
}

async function writeAll(handle: FileHandle, chunk: Buffer, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    try {
      const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
      done += bytesWritten;
    } catch (err) {
      if (isDiskFull(err)) throw new DownloadError('disk-full', `disk full while writing ${file} (${errnoCode(err)})`);
      throw new DownloadError('io', `cannot write ${file}: ${errnoCode(err) ?? String(err)}`);
    }
  }
}

/** Checks the digest, then moves the file into place (copy + rename across file systems). */
function finish(request: DownloadRequest, paths: PartialPaths, digest: string, bytes: number, resumedFromBytes: number, meter: ProgressMeter): DownloadResult {
  meter.setPhase('verifying');
  const { expected, dest, url } = request;
  if (request.sizeOnly !== undefined) {
    if (bytes !== request.sizeOnly) {
      discardPartial(paths);
      throw new DownloadError('checksum', `size mismatch for ${url}: expected ${request.sizeOnly} bytes, got ${bytes}; the downloaded file was deleted`);
    }
  } else if (digest !== expected.digest) {
    discardPartial(paths);
    throw new DownloadError('checksum', `checksum mismatch for ${url}: expected ${expected.algorithm} ${expected.digest}, got ${digest}; the downloaded file was deleted`);
  }
  mkdirSync(dirname(dest), { recursive: true });
  try {
    renameSync(paths.data, dest);
  } catch (err) {
    if (errnoCode(err) !== 'EXDEV') throw err;
    const tmp = join(dirname(dest), `.${basename(dest)}.tmp-${process.pid}`);
    try {
      copyFileSync(paths.data, tmp);
      renameSync(tmp, dest);
    } catch (copyErr) {
      rmSync(tmp, { force: true });
      if (isDiskFull(copyErr)) throw new DownloadError('disk-full', `disk full while writing ${dest} (${errnoCode(copyErr)})`);
      throw copyErr;
    }
    rmSync(paths.data, { force: true });
  }
  rmSync(paths.sidecar, { force: true });
  meter.setPhase('done');
  return { path: dest, bytes, digest, resumedFromBytes };
}
