/** The `studio-image:` protocol: only the open project's images, by id (main/api/images.ts decides). */
import { protocol } from 'electron';
import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { Session } from '../services/session.ts';

export const IMAGE_SCHEME = 'studio-image';

export function registerImageProtocol(s: Session): void {
  protocol.handle(IMAGE_SCHEME, async (request) => {
    const url = new URL(request.url);
    // studio-image://project/<generation>/<full|thumb>/<id>
    const m = /^\/(\d+)\/(.+)$/.exec(url.pathname);
    if (url.host !== 'project' || !m || Number(m[1]) !== s.generation) return new Response('not found', { status: 404 });
    const served = await s.images.serve(s.project, m[2]!);
    return new Response(Buffer.from(served.body), { status: served.status, headers: { 'Content-Type': served.mime, 'Cache-Control': 'private, max-age=3600' } });
  });
}

/**
 * The `studio-app:` protocol serves the built renderer (`studio-app://renderer/index.html`)
 * instead of `file://`, whose pages may read any file the user can. Only files inside the
 * renderer's folder are served.
 */
export const APP_SCHEME = 'studio-app';

const MIME: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.wasm': 'application/wasm',
};

export function registerAppProtocol(rendererDir: string): void {
  const root = resolve(rendererDir);
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname).replace(/^\/+/, '') || 'index.html';
    } catch {
      return new Response('not found', { status: 404 });
    }
    const file = resolve(root, rel);
    if (url.host !== 'renderer' || !file.startsWith(root + sep)) return new Response('not found', { status: 404 });
    try {
      return new Response(new Uint8Array(await readFile(file)), { headers: { 'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream' } });
    } catch {
      return new Response('not found', { status: 404 });
    }
  });
}
