/**
 * The model catalog: which SAM models the app can download, from where, with which checksum,
 * size and licence. Adding a model is adding an entry to resources/catalog.json (or to a catalog
 * given by a setting or `--catalog <url|file>`). Entries are validated when loaded, and each
 * problem names the catalog, the entry and the field.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseConfig, type SamConfig } from '../sam/builders/config.ts';
import { hexLength, type ExpectedHash, type HashAlgorithm } from './download/hash.ts';
import { openGet } from './download/http.ts';
import { parseHubSource, type HubSource } from './hub.ts';
import { defaultStallTimeoutMs } from './download/index.ts';
import { CATALOG_FORMATS, type CatalogFormat } from '../../preload/contract/enums.ts';

export type { CatalogFormat };
export type CatalogFileRole = 'checkpoint' | 'encoder' | 'decoder';

export interface CatalogFile {
  role: CatalogFileRole;
  url: string;
  expected: ExpectedHash;
  /** the URL's last path segment, e.g. sam_vit_b_01ec64.pth */
  fileName: string;
  /** set only on a hub entry's confirmed alternative (hub.ts): check this size, not `expected` */
  sizeOnly?: number;
}

export interface CatalogModel {
  id: string;
  name: string;
  format: CatalogFormat;
  /** one checkpoint for 'pth'; encoder then decoder for 'onnx-pair' */
  files: CatalogFile[];
  /** published size in bytes (all files together): advisory, the hash is what is trusted */
  bytes: number;
  licence: string;
  /** hyper-parameters for sizes that are not ViT-B/L/H */
  config?: Partial<SamConfig>;
  /** a model hub file (hub.ts): `files` stays empty until `resolveHubModel` reads its sha256 */
  hub?: HubSource;
  /** how fast the fp32 model runs on a CPU (the wizard's speed class), when known */
  speed?: CatalogSpeed;
}

/**
 * An entry's `"speed": {"encoder_cpu_s", "click_cpu_ms", "estimated"}`: CPU time (all threads
 * together, steadier than wall time on a shared machine) of one fp32 encoder pass and of one
 * click to mask (the app's path), measured by `npm run bench -- sam` on the 2-core build machine;
 * `estimated: true` where the numbers are scaled from a measured model instead (README, "Model
 * catalog").
 */
export interface CatalogSpeed {
  encoderCpuSeconds: number;
  clickCpuMs: number;
  estimated: boolean;
}

export type SpeedClass = 'fast' | 'medium' | 'slow';

/**
 * Fixed thresholds on the encoder's CPU seconds: on 2 cores an encoder pass takes about half
 * that in wall time, so "fast" is a few seconds per new image, "medium" up to about ten, "slow"
 * more (ViT-L/H). The click time does not enter: every catalog model's click is 0.1-0.2 s.
 */
export const SPEED_CLASS_LIMITS: readonly [SpeedClass, number][] = [['fast', 8], ['medium', 20], ['slow', Infinity]];

export function speedClass(speed: CatalogSpeed): SpeedClass {
  return SPEED_CLASS_LIMITS.find(([, limit]) => speed.encoderCpuSeconds <= limit)![0];
}

/**
 * The wizard's first choice: the entry with the fastest measured encoder (estimates do not
 * count), else the catalog's first entry.
 */
export function preferredModel(catalog: Catalog): CatalogModel | undefined {
  const measured = catalog.models.filter((m) => m.speed && !m.speed.estimated);
  if (measured.length === 0) return catalog.models[0];
  return measured.reduce((a, b) => (b.speed!.encoderCpuSeconds < a.speed!.encoderCpuSeconds ? b : a));
}

export interface Catalog {
  /** the file or URL it was read from */
  source: string;
  models: CatalogModel[];
}

/** The command line's default. The app reads `<resources>/catalog.json` (packaged: outside app.asar, electron-builder.yml). */
export const bundledCatalogPath = fileURLToPath(new URL('../../resources/catalog.json', import.meta.url));

const maxCatalogBytes = 1 << 20;
const idPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const hashFields: Record<CatalogFormat, Record<HashAlgorithm, string>> = {
  pth: { sha256: 'sha256', md5: 'md5' },
  'onnx-pair': { sha256: 'sha256s', md5: 'md5s' },
};
const pairRoles = ['encoder', 'decoder'] as const;

type Entry = Record<string, unknown>;

function entryError(source: string, where: string, field: string, problem: string): Error {
  return new Error(`${source}: ${where}: "${field}" ${problem}`);
}

function checkUrl(value: unknown, source: string, where: string, field: string): string {
  if (typeof value !== 'string') throw entryError(source, where, field, 'must be a URL string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw entryError(source, where, field, `is not a URL: "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw entryError(source, where, field, `must be an http(s) URL, got "${value}"`);
  if (!url.pathname.split('/').pop()) throw entryError(source, where, field, `must end with a file name, got "${value}"`);
  return value;
}

function checkDigest(value: unknown, algorithm: HashAlgorithm, source: string, where: string, field: string): string {
  const length = hexLength[algorithm];
  if (typeof value !== 'string' || !new RegExp(`^[0-9a-fA-F]{${length}}$`).test(value)) {
    throw entryError(source, where, field, `must be ${length} hex digits (${algorithm})`);
  }
  return value.toLowerCase();
}

/**
 * A downloaded file is stored under this name in the download cache, so it must stay a plain
 * name there: letters, digits, ".", "_", "+" and "-", not starting with a dot. A catalog comes
 * from other people, and a last segment such as "..%2F..%2Fautostart" would otherwise name a
 * file outside the cache.
 */
const safeFileName = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

function fileName(url: string, source: string, where: string, field: string): string {
  const segment = new URL(url).pathname.split('/').pop()!;
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    throw entryError(source, where, field, `has a malformed "%" escape in its file name "${segment}"`);
  }
  if (!safeFileName.test(name) || name.length > 200) {
    throw entryError(source, where, field, `must end with a plain file name (letters, digits, ".", "_", "+", "-"), got ${JSON.stringify(name)}`);
  }
  return name;
}

/** Finds which of sha256/md5 (or sha256s/md5s) the entry gives: exactly one. */
function hashAlgorithm(entry: Entry, format: CatalogFormat, source: string, where: string): HashAlgorithm {
  const fields = hashFields[format];
  const given = (Object.keys(fields) as HashAlgorithm[]).filter((a) => entry[fields[a]] !== undefined);
  if (given.length !== 1) {
    const names = Object.values(fields).map((f) => `"${f}"`).join(' or ');
    throw new Error(`${source}: ${where}: needs exactly one of ${names}`);
  }
  return given[0]!;
}

function parseFiles(entry: Entry, format: CatalogFormat, source: string, where: string): CatalogFile[] {
  const algorithm = hashAlgorithm(entry, format, source, where);
  const hashField = hashFields[format][algorithm];
  if (format === 'pth') {
    const url = checkUrl(entry.url, source, where, 'url');
    const digest = checkDigest(entry[hashField], algorithm, source, where, hashField);
    return [{ role: 'checkpoint', url, expected: { algorithm, digest }, fileName: fileName(url, source, where, 'url') }];
  }
  const urls = entry.urls as Entry | undefined;
  const digests = entry[hashField] as Entry | undefined;
  if (typeof urls !== 'object' || urls === null) throw entryError(source, where, 'urls', 'must be an object {"encoder", "decoder"}');
  if (typeof digests !== 'object' || digests === null) throw entryError(source, where, hashField, 'must be an object {"encoder", "decoder"}');
  return pairRoles.map((role) => {
    const url = checkUrl(urls[role], source, where, `urls.${role}`);
    const digest = checkDigest(digests[role], algorithm, source, where, `${hashField}.${role}`);
    return { role, url, expected: { algorithm, digest }, fileName: fileName(url, source, where, `urls.${role}`) };
  });
}

function parseSpeed(value: unknown, source: string, where: string): CatalogSpeed {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw entryError(source, where, 'speed', 'must be an object {"encoder_cpu_s", "click_cpu_ms", "estimated"}');
  const { encoder_cpu_s: encoder, click_cpu_ms: click, estimated, ...rest } = value as Entry;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw entryError(source, where, `speed.${extra}`, 'is not a speed field (encoder_cpu_s, click_cpu_ms, estimated)');
  if (typeof encoder !== 'number' || !Number.isFinite(encoder) || encoder <= 0) throw entryError(source, where, 'speed.encoder_cpu_s', 'must be the CPU seconds of one fp32 encoder pass, a positive number');
  if (typeof click !== 'number' || !Number.isFinite(click) || click <= 0) throw entryError(source, where, 'speed.click_cpu_ms', 'must be the CPU milliseconds of one click to mask, a positive number');
  if (estimated !== undefined && typeof estimated !== 'boolean') throw entryError(source, where, 'speed.estimated', 'must be true or false');
  return { encoderCpuSeconds: encoder, clickCpuMs: click, estimated: estimated ?? false };
}

function isCatalogFormat(x: unknown): x is CatalogFormat {
  return CATALOG_FORMATS.includes(x as CatalogFormat);
}

function parseEntry(raw: unknown, index: number, source: string): CatalogModel {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${source}: models[${index}] must be an object`);
  const entry = raw as Entry;
  const id = entry.id;
  if (typeof id !== 'string' || !idPattern.test(id)) throw entryError(source, `models[${index}]`, 'id', 'must be a name of letters, digits, ".", "_" or "-"');
  const where = `model "${id}"`;
  const { name, format, bytes, licence } = entry;
  if (typeof name !== 'string' || name.trim() === '') throw entryError(source, where, 'name', 'must be a non-empty string');
  if (!isCatalogFormat(format)) throw entryError(source, where, 'format', `must be ${CATALOG_FORMATS.map((f) => JSON.stringify(f)).join(' or ')}, got ${JSON.stringify(format)}`);
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes <= 0) throw entryError(source, where, 'bytes', 'must be a positive integer');
  if (typeof licence !== 'string' || licence.trim() === '') throw entryError(source, where, 'licence', 'must name the licence, e.g. "Apache-2.0"');
  const hub = entry.hub !== undefined ? parseHubSource(entry, source, where) : undefined;
  const model: CatalogModel = { id, name, format, files: hub ? [] : parseFiles(entry, format, source, where), bytes, licence };
  if (hub) model.hub = hub;
  if (entry.config !== undefined) model.config = parseConfig(entry.config, `${source}: ${where}: "config"`);
  if (entry.speed !== undefined) model.speed = parseSpeed(entry.speed, source, where);
  return model;
}

/** Validates catalog JSON text read from `source`. */
export function parseCatalog(text: string, source: string): Catalog {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
  }
  const models = (raw as Entry | null)?.models;
  if (!Array.isArray(models)) throw new Error(`${source}: must be an object with a "models" list`);
  const parsed = models.map((m, i) => parseEntry(m, i, source));
  const seen = new Set<string>();
  for (const m of parsed) {
    if (seen.has(m.id)) throw new Error(`${source}: model "${m.id}" is listed twice`);
    seen.add(m.id);
  }
  return { source, models: parsed };
}

async function fetchText(url: string, signal?: AbortSignal): Promise<string> {
  const opened = await openGet(url, { stallTimeoutMs: defaultStallTimeoutMs, maxRedirects: 10, signal });
  try {
    const status = opened.response.statusCode ?? 0;
    if (status === 404) throw new Error(`catalog ${opened.url.href} not found (HTTP 404)`);
    if (status !== 200) throw new Error(`catalog ${opened.url.href}: HTTP ${status}`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of opened.response as AsyncIterable<Buffer>) {
      opened.touch();
      size += chunk.length;
      if (size > maxCatalogBytes) throw new Error(`catalog ${url} is larger than ${maxCatalogBytes} bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    opened.close();
    opened.response.destroy();
  }
}

/** Loads a catalog from a file path or an http(s) URL; the bundled one when `source` is undefined. */
export async function loadCatalog(source: string = bundledCatalogPath, signal?: AbortSignal): Promise<Catalog> {
  if (/^https?:\/\//i.test(source)) return parseCatalog(await fetchText(source, signal), source);
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (err) {
    throw new Error(`catalog ${source} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return parseCatalog(text, source);
}

export function findModel(catalog: Catalog, id: string): CatalogModel {
  const model = catalog.models.find((m) => m.id === id);
  if (!model) throw new Error(`${catalog.source}: no model "${id}" (known: ${catalog.models.map((m) => m.id).join(', ') || 'none'})`);
  return model;
}
