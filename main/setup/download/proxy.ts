/**
 * Proxies from the environment, as curl reads them: `https_proxy`/`HTTPS_PROXY` for https URLs,
 * `http_proxy` (lower case only, as curl, because CGI servers set HTTP_PROXY from a request
 * header) then `HTTP_PROXY` for http URLs, `all_proxy`/`ALL_PROXY` as a fallback, and
 * `no_proxy`/`NO_PROXY` as a list of hosts, domain suffixes or `*`. https goes through a CONNECT
 * tunnel; http is sent to the proxy with the absolute URL as the request target.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { DownloadError, networkError } from './errors.ts';

function envValue(env: NodeJS.ProcessEnv, names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return undefined;
}

const defaultPorts: Record<string, string> = { 'http:': '80', 'https:': '443' };

function bypassed(url: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = url.port || defaultPorts[url.protocol] || '';
  for (const raw of noProxy.split(/[\s,]+/)) {
    if (!raw) continue;
    if (raw === '*') return true;
    let entry = raw.toLowerCase();
    let entryPort: string | undefined;
    const portMatch = /^(.*[^:]):(\d+)$/.exec(entry);
    if (portMatch && !entry.startsWith('[')) [, entry, entryPort] = portMatch as unknown as [string, string, string];
    entry = entry.replace(/^\*?\./, '').replace(/^\[|\]$/g, '');
    if (entryPort !== undefined && entryPort !== port) continue;
    if (host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/** The proxy to use for `url`, or undefined to connect directly. */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  if (bypassed(url, envValue(env, ['no_proxy', 'NO_PROXY']))) return undefined;
  const names = url.protocol === 'https:' ? ['https_proxy', 'HTTPS_PROXY'] : ['http_proxy', 'HTTP_PROXY'];
  const value = envValue(env, [...names, 'all_proxy', 'ALL_PROXY']);
  if (!value) return undefined;
  let proxy: URL;
  try {
    proxy = new URL(value.includes('://') ? value : `http://${value}`);
  } catch {
    throw new DownloadError('offline', `proxy setting "${value}" is not a URL`);
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') {
    throw new DownloadError('offline', `proxy "${value}": only http:// and https:// proxies are supported`);
  }
  return proxy;
}

export function proxyAuthorization(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(credentials).toString('base64')}` };
}

export function proxyPort(proxy: URL): number {
  return Number(proxy.port || defaultPorts[proxy.protocol]);
}

/** Opens a CONNECT tunnel through `proxy` to host:port and resolves with the raw socket. */
export function openTunnel(proxy: URL, host: string, port: number, signal?: AbortSignal): Promise<Socket> {
  const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    const client = proxy.protocol === 'https:' ? https : http;
    const req = client.request({
      host: proxy.hostname,
      port: proxyPort(proxy),
      method: 'CONNECT',
      path: target,
      headers: { host: target, ...proxyAuthorization(proxy) },
      agent: false,
      signal,
    });
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        const status = res.statusCode === 407 ? 'proxy authentication required' : `HTTP ${res.statusCode}`;
        reject(new DownloadError('http', `proxy ${proxy.host} refused to connect to ${target} (${status})`));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('response', (res) => {
      res.resume();
      reject(new DownloadError('http', `proxy ${proxy.host} answered CONNECT with HTTP ${res.statusCode}`));
    });
    req.once('error', (err) => reject(networkError(err, `proxy ${proxy.host}`, 0)));
    req.end();
  });
}
