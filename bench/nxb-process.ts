/**
 * System (e) of the benchmark: node-xmpp-bosh 0.7.10 (the npm package, 2013), the connection
 * manager the reference table names, run in a process of its own in front of the same
 * Prosody c2s port as shared-bosh. It is loaded from bench/node-xmpp-bosh/node_modules, which
 * `npm run bench:install-nxb` fills; shared-bosh does not depend on it.
 *
 * Configuration: its own defaults (bosh.conf.example.js of the package: INFO logging, hold up to
 * 2 requests, window 2), listening on 127.0.0.1, with one change: its lookup service (DNS SRV for
 * `_xmpp-client._tcp.<to>`) is replaced by a direct TCP connect to the c2s port, through its
 * documented `lookup_service` option, as shared-bosh connects by config, and no STARTTLS
 * (`no_tls_domains`), as the CM runs with `tls: 'off'`. BENCH_NXB_PORT, BENCH_NXB_C2S_PORT and
 * BENCH_NXB_DOMAIN give the ports and the XMPP domain; the log goes to stdout, which bench/run.ts sends to a file.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { connect } from 'node:net';
import { join } from 'node:path';
import { serveBenchIpc } from './child-ipc.js';
import { NXB_DIR } from './nxb.js';

const port = Number(process.env.BENCH_NXB_PORT);
const c2sPort = Number(process.env.BENCH_NXB_C2S_PORT);
if (!process.send || !(port > 0) || !(c2sPort > 0)) {
  console.error('bench/nxb-process.js runs as a child of bench/run.js (BENCH_NXB_PORT, BENCH_NXB_C2S_PORT and IPC)');
  process.exit(2);
}

interface NxbModule {
  start_bosh(options: Record<string, unknown>): EventEmitter;
}

/** node-xmpp-bosh's lookup-service interface: `new (port, stream)`, then `connect(socket)` emits 'connect' or 'error'. */
class DirectLookup extends EventEmitter {
  connect(socket: Socket): void {
    const onError = (): void => {
      this.emit('error', 'remote-connection-failed');
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.removeListener('error', onError);
      this.emit('connect');
    });
    socket.connect(c2sPort, '127.0.0.1');
  }
}

const nxb = createRequire(join(NXB_DIR, 'package.json'))('node-xmpp-bosh') as NxbModule;
const server = nxb.start_bosh({
  host: '127.0.0.1',
  port,
  path: /^\/http-bind(\/+)?$/,
  logging: 'INFO',
  lookup_service: DirectLookup,
  // TLS is off on every side of the benchmark: Prosody offers STARTTLS without requiring it, and
  // this is node-xmpp-bosh's documented way not to take it up (its starttls.js needs
  // crypto.createCredentials, which Node removed long ago).
  no_tls_domains: [process.env.BENCH_NXB_DOMAIN ?? 'localhost'],
});
// Its 'error' event is thrown when nobody listens (its EMBEDDING.TXT); log it as run-server.js does.
server.on('error', (err: unknown) => console.error('node-xmpp-bosh error:', err));

serveBenchIpc({ stats: () => ({}), stop: async () => undefined });
// start_bosh listens without a callback; wait until the port answers before saying ready.
for (let i = 0; i < 100; i++) {
  const ok = await new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
  if (ok) break;
  await new Promise((r) => setTimeout(r, 50));
}
process.send({ ready: true, url: `http://127.0.0.1:${port}/http-bind/`, pid: process.pid });
