/**
 * One GET with redirects, proxies and a stall timer: resolves with the first non-redirect
 * response. The caller keeps the returned `stall` timer running while it reads the body.
 */
import http, { type IncomingMessage, type ClientRequest } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { DownloadError, networkError } from './errors.ts';
import { openTunnel, proxyAuthorization, proxyFor, proxyPort } from './proxy.ts';

export interface GetOptions {
  headers?: Record<string, string>;
  /** default GET; HEAD reads a file's metadata (the model hub's checksum headers) without its body */
  method?: 'GET' | 'HEAD';
  /** destroy the transfer after this long without a byte (connecting included) */
  stallTimeoutMs: number;
  maxRedirects: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export interface OpenResponse {
  response: IncomingMessage;
  /** the URL that answered, after redirects */
  url: URL;
  /** call on every chunk; the timer destroys the response with a 'stall' error when it fires */
  touch(): void;
  /** stops the stall timer and the abort listener */
  close(): void;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const userAgent = 'ptq4sam-studio-downloader';

async function sendRequest(url: URL, method: 'GET' | 'HEAD', headers: Record<string, string>, env: NodeJS.ProcessEnv): Promise<ClientRequest> {
  const proxy = proxyFor(url, env);
  const base = { method, headers: { host: url.host, ...headers }, agent: false as const };
  if (!proxy) {
    const client = url.protocol === 'https:' ? https : http;
    return client.request(url, base);
  }
  if (url.protocol === 'http:') {
    const client = proxy.protocol === 'https:' ? https : http;
    return client.request({ ...base, host: proxy.hostname, port: proxyPort(proxy), path: url.href, headers: { ...base.headers, ...proxyAuthorization(proxy) } });
  }
  const port = Number(url.port || 443);
  const socket = await openTunnel(proxy, url.hostname, port);
  return https.request({
    ...base,
    host: url.hostname,
    port,
    path: `${url.pathname}${url.search}`,
    agent: undefined,
    createConnection: () => tls.connect({ socket, ...(isIP(url.hostname) ? {} : { servername: url.hostname }) }),
  });
}

/** GETs `start`, following up to `maxRedirects` redirects. */
export async function openGet(start: string, options: GetOptions): Promise<OpenResponse> {
  let url: URL;
  try {
    url = new URL(start);
  } catch {
    throw new DownloadError('http', `"${start}" is not a URL`);
  }
  for (let redirects = 0; ; redirects++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DownloadError('http', `${url.href}: only http and https URLs can be downloaded`);
    const opened = await getOnce(url, options);
    const { response } = opened;
    const status = response.statusCode ?? 0;
    if (!redirectStatuses.has(status)) return opened;
    opened.close();
    response.resume();
    const location = response.headers.location;
    if (!location) throw new DownloadError('redirects', `${url.href} redirected (HTTP ${status}) without a Location header`);
    if (redirects >= options.maxRedirects) throw new DownloadError('redirects', `too many redirects (more than ${options.maxRedirects}) starting at ${start}`);
    url = redirectTarget(url, location);
  }
}

/**
 * Where a redirect leads. A transfer that started over https is never continued over plain
 * http: anyone on the path could then replace the file (the hash would catch it, but only after
 * gigabytes) or read which model is fetched.
 */
export function redirectTarget(from: URL, location: string): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new DownloadError('redirects', `${from.href} redirected to "${location}", which is not a URL`);
  }
  if (from.protocol === 'https:' && next.protocol === 'http:') {
    throw new DownloadError('redirects', `${from.href} redirected to ${next.href}: a download over https is not continued over plain http`);
  }
  return next;
}

/** One request to `url`, redirects not followed (the caller reads them). */
export function getOnce(url: URL, options: GetOptions): Promise<OpenResponse> {
  const env = options.env ?? process.env;
  const headers = { 'user-agent': userAgent, 'accept-encoding': 'identity', ...options.headers };
  const host = url.host;
  return new Promise((resolve, reject) => {
    let request: ClientRequest | undefined;
    let response: IncomingMessage | undefined;
    let settled = false;
    const fail = (err: DownloadError) => {
      if (!settled) {
        settled = true;
        cleanup();
        reject(err);
      }
      // once the caller has the response, failing means ending its body with this error
      response?.destroy(err);
      request?.destroy(err);
    };
    let timer: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(new DownloadError('stall', `no data for ${options.stallTimeoutMs / 1000} s from ${host}; run again to resume`)), options.stallTimeoutMs);
    };
    const onAbort = () => fail(new DownloadError('cancelled', `download of ${url.href} cancelled`));
    const cleanup = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    touch();
    sendRequest(url, options.method ?? 'GET', headers, env).then(
      (req) => {
        request = req;
        if (settled) return void req.destroy();
        // before the response an error rejects; after it, the body's reader sees it and maps it
        req.on('error', (err) => (settled ? response?.destroy(err) : fail(networkError(err, host, 0))));
        req.once('response', (res) => {
          response = res;
          touch();
          settled = true;
          resolve({ response: res, url, touch, close: cleanup });
        });
        req.end();
      },
      (err) => fail(networkError(err, host, 0)),
    );
  });
}
