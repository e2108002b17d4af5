/**
 * Catalog entries that name a file on the Hugging Face model hub (repository, file, revision)
 * instead of a URL with a published digest. Meta publishes SAM 2.1's checkpoints without
 * checksums; the hub serves the same files with their sha256 as metadata (the LFS object id, which
 * it returns as `X-Linked-Etag`, or `ETag` where it answers itself, on a HEAD of the file's
 * resolve URL, as its own client reads it). `resolveHubModel` reads that sha256 before anything is
 * downloaded and turns the entry into an ordinary catalog file the download then verifies. An
 * entry may also name an alternative URL (Meta's) with its size: used only when the hub cannot
 * answer and the user confirms, and then only the size is checked.
 */
import { posix } from 'node:path';
import type { CatalogFile, CatalogModel } from './catalog.ts';
import { DownloadError } from './download/errors.ts';
import { getOnce } from './download/http.ts';
import { defaultStallTimeoutMs } from './download/index.ts';

export interface HubFile {
  /** `owner/name`, e.g. facebook/sam2.1-hiera-tiny */
  repository: string;
  /** the path inside the repository, e.g. sam2.1_hiera_tiny.pt */
  file: string;
  /** a commit (preferred: the file cannot change under the entry) or a branch */
  revision: string;
}

export interface HubAlternative {
  url: string;
  /** the file's exact size, the only thing checked on this route */
  bytes: number;
}

/** What a catalog entry's `"hub"` and `"alternative"` fields say. */
export interface HubSource {
  file: HubFile;
  alternative?: HubAlternative;
}

export const hubEndpoint = 'https://huggingface.co';

/**
 * The hub's origin: `HF_ENDPOINT` where set (the variable the hub's own client reads, e.g. for a
 * mirror), else huggingface.co.
 */
export function defaultHubEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.HF_ENDPOINT?.trim();
  if (!given) return hubEndpoint;
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new Error(`HF_ENDPOINT ${JSON.stringify(given)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`HF_ENDPOINT ${JSON.stringify(given)} must be an http(s) URL`);
  return given;
}

type Entry = Record<string, unknown>;

const repositoryPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const maxHubRedirects = 5;

function fieldError(source: string, where: string, field: string, problem: string): Error {
  return new Error(`${source}: ${where}: "${field}" ${problem}`);
}

/**
 * Validates an entry's `"hub": {"repository", "file", "revision"}` and optional
 * `"alternative": {"url", "bytes"}`. A hub entry is one checkpoint (`"format": "pth"`) and gives
 * no `url`/`md5`/`sha256` of its own: its sha256 comes from the hub.
 */
export function parseHubSource(entry: Entry, source: string, where: string): HubSource {
  if (entry.format !== 'pth') throw fieldError(source, where, 'hub', 'names one checkpoint file: the entry\'s "format" must be "pth"');
  for (const field of ['url', 'urls', 'md5', 'sha256', 'md5s', 'sha256s']) {
    if (entry[field] !== undefined) throw fieldError(source, where, field, 'cannot be given with "hub" (the hub gives the file\'s sha256)');
  }
  const hub = entry.hub as Entry;
  if (typeof hub !== 'object' || hub === null || Array.isArray(hub)) throw fieldError(source, where, 'hub', 'must be an object {"repository", "file", "revision"}');
  const { repository, file, revision } = hub;
  if (typeof repository !== 'string' || !repositoryPattern.test(repository)) throw fieldError(source, where, 'hub.repository', 'must be "owner/name" of letters, digits, ".", "_" or "-"');
  if (typeof file !== 'string' || !file.split('/').every((part) => namePattern.test(part) && part !== '..')) {
    throw fieldError(source, where, 'hub.file', 'must be a path inside the repository: names of letters, digits, ".", "_" or "-" separated by "/"');
  }
  if (typeof revision !== 'string' || !namePattern.test(revision)) throw fieldError(source, where, 'hub.revision', 'must be a commit or branch name of letters, digits, ".", "_" or "-"');
  const parsed: HubSource = { file: { repository, file, revision } };
  if (entry.alternative !== undefined) {
    const alt = entry.alternative as Entry;
    if (typeof alt !== 'object' || alt === null || Array.isArray(alt)) throw fieldError(source, where, 'alternative', 'must be an object {"url", "bytes"}');
    let url: URL;
    try {
      url = new URL(String(alt.url));
    } catch {
      throw fieldError(source, where, 'alternative.url', `is not a URL: ${JSON.stringify(alt.url)}`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.pathname.split('/').pop()) {
      throw fieldError(source, where, 'alternative.url', `must be an http(s) URL ending with a file name, got ${JSON.stringify(alt.url)}`);
    }
    if (typeof alt.bytes !== 'number' || !Number.isSafeInteger(alt.bytes) || alt.bytes <= 0) throw fieldError(source, where, 'alternative.bytes', 'must be the file\'s size, a positive integer');
    parsed.alternative = { url: url.href, bytes: alt.bytes };
  }
  return parsed;
}

/** https://huggingface.co/<repository>/resolve/<revision>/<file> */
export function hubFileUrl(file: HubFile, endpoint = defaultHubEndpoint()): string {
  const path = file.file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${file.repository}/resolve/${encodeURIComponent(file.revision)}/${path}`;
}

export interface HubMetadata {
  sha256: string;
  /** the size the hub announces (`X-Linked-Size`, else Content-Length), when it does */
  bytes?: number;
}

export interface HubRequestOptions {
  /** the hub's origin, default `defaultHubEndpoint(env)` (tests point it at a local server) */
  endpoint?: string;
  stallTimeoutMs?: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `"abc"` / `W/"abc"` -> abc */
function etagValue(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/**
 * HEADs the file's resolve URL and reads its sha256. The hub answers an LFS file with a redirect
 * to its storage carrying `X-Linked-Etag` (and `X-Linked-Size`); that redirect is not followed.
 * Redirects without it (a renamed repository) are followed on the hub's own origin only.
 */
export async function readHubMetadata(file: HubFile, o: HubRequestOptions = {}): Promise<HubMetadata> {
  const start = hubFileUrl(file, o.endpoint ?? defaultHubEndpoint(o.env));
  let url = new URL(start);
  for (let redirects = 0; ; redirects++) {
    const opened = await getOnce(url, { method: 'HEAD', stallTimeoutMs: o.stallTimeoutMs ?? defaultStallTimeoutMs, maxRedirects: 0, signal: o.signal, env: o.env });
    opened.close();
    opened.response.resume();
    const { headers } = opened.response;
    const status = opened.response.statusCode ?? 0;
    const linked = headerValue(headers['x-linked-etag']);
    const etag = linked ?? (status === 200 ? headerValue(headers.etag) : undefined);
    if (etag !== undefined) {
      const sha256 = etagValue(etag).toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(sha256)) throw new DownloadError('bad-response', `${start}: the hub gives no sha256 for this file (its ETag ${etag} is not one; a file not stored in LFS?)`);
      const size = Number(headerValue(linked !== undefined ? headers['x-linked-size'] : headers['content-length']));
      return Number.isSafeInteger(size) && size > 0 ? { sha256, bytes: size } : { sha256 };
    }
    if (status === 404) throw new DownloadError('not-found', `${start} not found on the hub (HTTP 404)`);
    const location = headerValue(headers.location);
    if (!redirectStatuses.has(status)) throw new DownloadError('http', `${url.href}: HTTP ${status} from the hub, no sha256 read`);
    if (!location) throw new DownloadError('redirects', `${url.href} redirected (HTTP ${status}) without a Location header`);
    const next = new URL(location, url);
    if (next.origin !== url.origin) throw new DownloadError('bad-response', `${url.href} redirected to ${next.origin} without the file's sha256 (no X-Linked-Etag header)`);
    if (redirects >= maxHubRedirects) throw new DownloadError('redirects', `too many redirects (more than ${maxHubRedirects}) starting at ${start}`);
    url = next;
  }
}

/** What the user is asked before the alternative URL is used. */
export interface AlternativeOffer {
  model: string;
  url: string;
  bytes: number;
  /** why the hub could not be used */
  reason: string;
}

export interface ResolveOptions extends HubRequestOptions {
  /** asked only when the hub fails and the entry has an alternative; default: declined */
  confirmAlternative?: (offer: AlternativeOffer) => boolean | Promise<boolean>;
}

function lastSegment(path: string): string {
  return decodeURIComponent(posix.basename(path));
}

/**
 * A hub entry with its file filled in: the hub's resolve URL with the sha256 the hub gives, or,
 * when the hub cannot answer and the user confirms, the alternative URL checked by size only
 * (`sizeOnly`). Other entries are returned as they are.
 */
export async function resolveHubModel(model: CatalogModel, o: ResolveOptions = {}): Promise<CatalogModel> {
  if (!model.hub) return model;
  const { file, alternative } = model.hub;
  const endpoint = o.endpoint ?? defaultHubEndpoint(o.env);
  let reason: string;
  try {
    const meta = await readHubMetadata(file, { ...o, endpoint });
    const resolved: CatalogFile = { role: 'checkpoint', url: hubFileUrl(file, endpoint), expected: { algorithm: 'sha256', digest: meta.sha256 }, fileName: lastSegment(file.file) };
    return { ...model, files: [resolved] };
  } catch (err) {
    if (o.signal?.aborted || (err instanceof DownloadError && err.code === 'cancelled')) throw err;
    reason = (err as Error).message;
  }
  if (!alternative) throw new Error(`${model.id}: cannot read the file's sha256 from the hub: ${reason}`);
  const offer: AlternativeOffer = { model: model.id, url: alternative.url, bytes: alternative.bytes, reason };
  if (!(await (o.confirmAlternative?.(offer) ?? false))) {
    throw new Error(`${model.id}: cannot read the file's sha256 from the hub (${reason}); the alternative ${alternative.url} publishes no checksum (only its size, ${alternative.bytes} bytes, would be checked) and was not confirmed`);
  }
  const fallback: CatalogFile = {
    role: 'checkpoint',
    url: alternative.url,
    // no digest to compare: the download checks the size instead and names its partial file by it
    expected: { algorithm: 'sha256', digest: `size${alternative.bytes}` },
    fileName: lastSegment(new URL(alternative.url).pathname),
    sizeOnly: alternative.bytes,
  };
  return { ...model, files: [fallback] };
}
