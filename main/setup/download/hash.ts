/**
 * Expected digests and incremental hashing. Catalog entries give sha256 or md5 (Meta publishes
 * the official SAM checkpoints by MD5), and the digest is always computed while the bytes arrive,
 * so verifying a 2.5 GB checkpoint costs no second pass.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export type HashAlgorithm = 'sha256' | 'md5';

export interface ExpectedHash {
  algorithm: HashAlgorithm;
  /** lower-case hex */
  digest: string;
}

export const hexLength: Record<HashAlgorithm, number> = { sha256: 64, md5: 32 };

export function newHasher(expected: ExpectedHash): Hash {
  return createHash(expected.algorithm);
}

/** Feeds the first `bytes` bytes of a file into `hasher` (re-hashing a partial file before resuming). */
export async function hashFilePrefix(path: string, bytes: number, hasher: Hash, signal?: AbortSignal): Promise<void> {
  if (bytes === 0) return;
  const stream = createReadStream(path, { start: 0, end: bytes - 1, highWaterMark: 1 << 20, signal });
  for await (const chunk of stream) hasher.update(chunk as Buffer);
}

/** The digest of a whole file. */
export async function hashFile(path: string, algorithm: HashAlgorithm, signal?: AbortSignal): Promise<string> {
  const hasher = createHash(algorithm);
  const stream = createReadStream(path, { highWaterMark: 1 << 20, signal });
  for await (const chunk of stream) hasher.update(chunk as Buffer);
  return hasher.digest('hex');
}
