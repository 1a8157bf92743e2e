/**
 * The Shared BOSH demo: a throwaway Prosody, the CM in front of it, and a small static server for
 * the demo pages (demo/index.html with demo/app.js, demo/strophe.html with demo/strophe-app.js).
 *
 *   npm run demo                 # build, then: node dist/demo/server.js
 *   npm run demo -- --port 8000 --http2 --verbose
 *
 * Needs the `prosody` Debian package (and `openssl`): Prosody runs from a temporary directory on
 * free loopback ports, with the users of test/support/prosody.ts (alice/alice-pw, bob/bob-pw,
 * carol/carol-pw, dave/dave-pw), and is stopped (by its PID) on Ctrl-C.
 *
 * How the client library reaches the browser: no bundler. The library (src/client/) has no bare
 * imports (saxes is only loaded, dynamically, under Node), so its compiled ES modules under
 * dist/src/ are served as they are at `/lib/` (`/lib/client/index.js`, which imports
 * `../xml/element.js` and `../clock.js`), and Strophe.js 5 from its ESM build at
 * `/vendor/strophe.esm.js`. The pages read the CM's URL from `/config.json`.
 *
 * This file is compiled by `npm run build` because test/browser/tabs.test.ts imports it (the
 * browser tests serve the same pages with serveDemoPages()); tsconfig's `include` does not list demo/.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { createConnectionManager, type ConnectionManager } from '../src/cm.js';
import { DEFAULT_CONFIG, type CmConfig } from '../src/config.js';
import { createLogger, type LogLevel } from '../src/log.js';
import { startProsody, type ProsodyInstance } from '../test/support/prosody.js';
import { createTestCertificate } from '../test/support/certs.js';

/** The project root, from dist/demo/server.js (compiled) or demo/server.ts. */
const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/demo/') ? '../../' : '../', import.meta.url));
const DEMO_DIR = join(ROOT, 'demo');
const LIB_DIR = join(ROOT, 'dist', 'src');
const STROPHE_ESM = join(ROOT, 'node_modules', 'strophe.js', 'dist', 'strophe.esm.js');

/** The files of demo/ the page server hands out (nothing else from that folder). */
const PAGES: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
  '/strophe.html': 'strophe.html',
  '/strophe-app.js': 'strophe-app.js',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export interface DemoUser {
  jid: string;
  password: string;
}

export interface DemoPageOptions {
  /** The CM's BOSH URL the pages connect to. */
  boshUrl: string;
  /** The XMPP domain. */
  domain: string;
  /** Accounts listed on the page (throwaway demo accounts only). */
  users?: DemoUser[];
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0 (any free port) */
  port?: number;
}

export interface DemoPageServer {
  /** `http://host:port/`: the chat page; `strophe.html` beside it is the Strophe.js page. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves the demo pages, the compiled client library and Strophe.js (GET/HEAD only, no caching). */
export async function serveDemoPages(options: DemoPageOptions): Promise<DemoPageServer> {
  const config = JSON.stringify({ boshUrl: options.boshUrl, domain: options.domain, users: options.users ?? [] });
  const server = createServer((req, res) => {
    handle(req, res, config).catch(() => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    close: () => closeServer(server),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, config: string): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
    return;
  }
  const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://demo').pathname);
  if (pathname === '/config.json') return send(res, 200, TYPES['.json']!, config);
  if (pathname === '/favicon.ico') return send(res, 204, 'text/plain', '');
  let file: string | undefined;
  if (PAGES[pathname]) file = join(DEMO_DIR, PAGES[pathname]!);
  else if (pathname === '/vendor/strophe.esm.js') file = STROPHE_ESM;
  else if (pathname.startsWith('/lib/') && /\.js(\.map)?$/.test(pathname)) {
    const candidate = normalize(join(LIB_DIR, pathname.slice('/lib/'.length)));
    if (candidate.startsWith(LIB_DIR + sep) && !candidate.includes(`${sep}..`)) file = candidate;
  }
  if (!file) return send(res, 404, 'text/plain; charset=utf-8', 'Not Found\n');
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch {
    return send(res, 404, 'text/plain; charset=utf-8', pathname.startsWith('/lib/') ? 'Not Found (run npm run build)\n' : 'Not Found\n');
  }
  send(res, 200, TYPES[extname(file)] ?? 'application/octet-stream', data, {}, req.method === 'HEAD');
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}, head = false): void {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(data.length), 'Cache-Control': 'no-store', ...headers });
  res.end(head ? undefined : data);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

// ---------------------------------------------------------------------------------------------
// The whole demo: Prosody + CM + pages
// ---------------------------------------------------------------------------------------------

export interface DemoOptions {
  /** Port of the page server. @default 8000 (any free port when taken) */
  pagePort?: number;
  /** Port of the CM. @default 0 (any free port) */
  cmPort?: number;
  /** Serve BOSH over HTTPS with HTTP/2 (a throwaway self-signed certificate). @default false */
  http2?: boolean;
  /** CM log level. @default 'warn' */
  logLevel?: LogLevel;
}

export interface DemoStack {
  prosody: ProsodyInstance;
  cm: ConnectionManager;
  boshUrl: string;
  pageUrl: string;
  users: DemoUser[];
  stop(): Promise<void>;
}

/** The CM config of the demo: in front of `prosody`, no creation rate limit, room for many tabs. */
export function demoCmConfig(prosody: ProsodyInstance, http: Partial<CmConfig['http']> = {}, logLevel: LogLevel = 'warn'): CmConfig {
  return {
    ...DEFAULT_CONFIG,
    http: { ...DEFAULT_CONFIG.http, port: 0, ...http },
    logLevel,
    bosh: { ...DEFAULT_CONFIG.bosh, creationsPerMinute: 0 },
    shared: { ...DEFAULT_CONFIG.shared, maxMembers: 64 },
    upstream: { ...DEFAULT_CONFIG.upstream, connectTimeoutMs: 5000 },
    domains: {
      [prosody.domain]: { host: prosody.host, port: prosody.c2sPort, tls: 'required', caFile: prosody.caFile, insecure: false },
    },
  };
}

/** Writes a throwaway certificate for 127.0.0.1/localhost; returns the CM's `http.tls` and a cleanup. */
export async function throwawayTls(): Promise<{ tls: { certFile: string; keyFile: string }; caPem: string; remove(): Promise<void> }> {
  const cert = await createTestCertificate(['localhost']);
  const dir = await mkdtemp(join(tmpdir(), 'shared-bosh-demo-tls-'));
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  await writeFile(certFile, cert.cert);
  await writeFile(keyFile, cert.key, { mode: 0o600 });
  return { tls: { certFile, keyFile }, caPem: cert.ca, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function startDemo(options: DemoOptions = {}): Promise<DemoStack> {
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const prosody = await startProsody();
    cleanups.push(() => prosody.stop());
    let tlsConfig: CmConfig['http']['tls'] = null;
    if (options.http2) {
      const tls = await throwawayTls();
      cleanups.push(tls.remove);
      tlsConfig = tls.tls;
    }
    const logLevel = options.logLevel ?? 'warn';
    const cm = createConnectionManager(
      demoCmConfig(prosody, { port: options.cmPort ?? 0, tls: tlsConfig, http2: true }, logLevel),
      { logger: createLogger(logLevel) },
    );
    const { url: boshUrl } = await cm.start();
    cleanups.push(() => cm.stop());
    const users = prosody.users.map((u) => ({ jid: `${u.user}@${u.host}`, password: u.password }));
    let pages: DemoPageServer;
    try {
      pages = await serveDemoPages({ boshUrl, domain: prosody.domain, users, port: options.pagePort ?? 8000 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      pages = await serveDemoPages({ boshUrl, domain: prosody.domain, users, port: 0 });
    }
    cleanups.push(() => pages.close());
    return { prosody, cm, boshUrl, pageUrl: pages.url, users, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// `npm run demo`
// ---------------------------------------------------------------------------------------------

function parseArgs(argv: string[]): DemoOptions {
  const out: DemoOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--port') out.pagePort = Number(value());
    else if (arg === '--cm-port') out.cmPort = Number(value());
    else if (arg === '--http2') out.http2 = true;
    else if (arg === '--verbose') out.logLevel = 'info';
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: npm run demo -- [--port N (pages, default 8000)] [--cm-port N (default: any)] [--http2] [--verbose]');
      process.exit(0);
    } else throw new Error(`unknown option ${arg} (try --help)`);
  }
  return out;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  console.log('Starting a throwaway Prosody and the shared-bosh CM in front of it...');
  const demo = await startDemo(options);
  const lines = [
    '',
    `  Demo page:       ${demo.pageUrl}`,
    `  Strophe.js page: ${demo.pageUrl}strophe.html`,
    `  BOSH (the CM):   ${demo.boshUrl}${options.http2 ? '   (self-signed: open it once in the browser and accept the certificate)' : ''}`,
    `  Prosody:         c2s 127.0.0.1:${demo.prosody.c2sPort}, its own BOSH ${demo.prosody.boshUrl} (pid ${demo.prosody.pid})`,
    '',
    '  Users (throwaway accounts):',
    ...demo.users.map((u) => `    ${u.jid.padEnd(20)} password ${u.password}`),
    '',
    '  Open the page in several tabs of one browser: the first tab logs in, the others attach to',
    '  its connection (the key is shared through localStorage). Log in as another user in another',
    '  browser (or a private window) to chat. Ctrl-C stops everything.',
    '',
  ];
  console.log(lines.join('\n'));
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the page server, the CM and Prosody...`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    demo.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(`demo: ${(err as Error).message}`);
    process.exit(1);
  });
}
