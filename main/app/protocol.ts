/** The `studio-image:` protocol: only the open project's images, by id (main/api/images.ts decides). */
import { protocol } from 'electron';
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
