/**
 * The ways a download fails, each with its own code and one-line message, so the CLI prints a
 * sentence and the app can pick an action (retry, free space, check the URL) from the code.
 */

export type DownloadErrorCode =
  | 'not-found' // HTTP 404
  | 'http' // any other non-success status
  | 'redirects' // too many redirects, a redirect without a Location, or from https to http
  | 'checksum' // the whole file arrived but its hash is wrong (the file is deleted)
  | 'stall' // no byte for the stall timeout
  | 'disk-full' // ENOSPC / EFBIG while writing (the partial file is deleted)
  | 'too-large' // a body without Content-Length that runs past any sensible size (deleted)
  | 'no-space' // the free-space check before starting failed
  | 'io' // any other failure to write the cache
  | 'busy' // another process is downloading the same file
  | 'offline' // the host cannot be resolved or refuses connections
  | 'connection-lost' // the connection broke mid-transfer (the partial file is kept for a resume)
  | 'bad-response' // a response that contradicts the request (wrong Content-Range, short body)
  | 'cancelled'; // the caller's AbortSignal fired

export class DownloadError extends Error {
  constructor(
    readonly code: DownloadErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DownloadError';
  }

  /** Errors worth an automatic retry that resumes the partial file. */
  get transient(): boolean {
    return this.code === 'connection-lost' || this.code === 'stall' || this.code === 'bad-response';
  }
}

const offlineCodes = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN']);
const lostCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE']);
const diskFullCodes = new Set(['ENOSPC', 'EFBIG', 'EDQUOT']);

export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isDiskFull(err: unknown): boolean {
  return diskFullCodes.has(errnoCode(err) ?? '');
}

/** Maps a socket-level error to a DownloadError naming the host. */
export function networkError(err: unknown, host: string, receivedBytes: number): DownloadError {
  if (err instanceof DownloadError) return err;
  const code = errnoCode(err) ?? '';
  if (offlineCodes.has(code)) return new DownloadError('offline', `cannot reach host ${host} (${code})`);
  const detail = code || (err instanceof Error ? err.message : String(err));
  if (lostCodes.has(code) || detail === 'aborted') {
    return new DownloadError('connection-lost', `connection to ${host} lost after ${receivedBytes} bytes (${detail}); run again to resume`);
  }
  return new DownloadError('connection-lost', `download from ${host} failed after ${receivedBytes} bytes: ${detail}`);
}
