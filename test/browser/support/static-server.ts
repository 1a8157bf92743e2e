/**
 * A small static file server for the browser tests (node:http on 127.0.0.1, any free port):
 * each route maps a URL prefix to a folder or a file of the project. GET and HEAD only, no
 * caching, nothing outside the mapped folders.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';

/** The project root, from dist/test/browser/support/ (compiled) or test/browser/support/. */
export const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/test/') ? '../../../../' : '../../../', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
};

export interface StaticServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  origin: string;
  close(): Promise<void>;
}

/**
 * `routes`: URL prefix -> path relative to the project root. A prefix ending in '/' maps a folder,
 * any other an exact file.
 */
export async function serveStatic(routes: Record<string, string>): Promise<StaticServer> {
  const mapped = Object.entries(routes).map(([prefix, path]) => ({ prefix, path: normalize(join(ROOT, path)) }));
  const resolve = (pathname: string): string | undefined => {
    for (const { prefix, path } of mapped) {
      if (!prefix.endsWith('/')) {
        if (pathname === prefix) return path;
        continue;
      }
      if (!pathname.startsWith(prefix)) continue;
      const candidate = normalize(join(path, pathname.slice(prefix.length)));
      if (candidate.startsWith(path.endsWith(sep) ? path : path + sep)) return candidate;
    }
    return undefined;
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'Method Not Allowed\n');
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://static').pathname);
    const file = resolve(pathname);
    if (!file) return send(res, 404, 'text/plain', 'Not Found\n');
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch {
      return send(res, 404, 'text/plain', 'Not Found\n');
    }
    send(res, 200, TYPES[extname(file)] ?? 'application/octet-stream', data, req.method === 'HEAD');
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, head = false): void {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(data.length), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : data);
}
