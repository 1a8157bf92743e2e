/**
 * The reverse-proxy examples, run: deploy/nginx.conf with Debian's nginx and deploy/Caddyfile with
 * Debian's Caddy, each in front of the CM with a throwaway certificate, and a browser-like HTTP/2
 * client (node:http2) creating BOSH sessions and holding a request through it. Each proxy is
 * skipped when it is not installed (`apt-get install nginx` or `caddy`; .ci/run installs both).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as h2connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnectionManager, type ConnectionManager } from '../../src/cm.js';
import { DEFAULT_CONFIG, type CmConfig } from '../../src/config.js';
import { createMemoryLogger } from '../../src/log.js';
import { createTestCertificate } from '../support/certs.js';
import { H2BoshClient } from '../support/h2-bosh.js';
import { getFreePort, tcpAccepts } from '../support/prosody.js';
import { ScriptedXmppServer } from '../support/scripted-xmpp-server.js';

const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/usr/local/sbin`;
const installed = (command: string, arg: string): boolean => spawnSync(command, [arg], { env: { ...process.env, PATH } }).status === 0;

/** Where the test runs the proxy: its files, the CM's port, the proxy's loopback port. */
interface Setup {
  dir: string;
  cmPort: number;
  port: number;
  certFile: string;
  keyFile: string;
}

interface ReverseProxy {
  name: string;
  /** The example in deploy/. */
  file: string;
  skip: string | false;
  /** What the example must say: timeouts (seconds) above bosh.maxWaitS, and no buffering. */
  timeouts: RegExp[];
  unbuffered: RegExp[];
  /** Writes its configuration from the example and starts it in the foreground. */
  start(example: string, setup: Setup): Promise<ChildProcess>;
  stopSignal: NodeJS.Signals;
}

/** The example with only what must differ in a test; every edit must match, so the test follows the file. */
function edit(file: string, text: string, edits: Array<[RegExp, string]>): string {
  for (const [pattern, replacement] of edits) {
    assert.match(text, pattern, `${file} has ${pattern}`);
    text = text.replace(pattern, replacement);
  }
  return text;
}

const nginx: ReverseProxy = {
  name: 'nginx',
  file: 'deploy/nginx.conf',
  skip: installed('nginx', '-v') ? false : 'nginx is not installed (Debian: apt-get install nginx)',
  timeouts: [/proxy_read_timeout (\d+)s;/, /proxy_send_timeout (\d+)s;/],
  unbuffered: [/proxy_buffering off;/, /proxy_request_buffering off;/],
  async start(example, { dir, cmPort, port, certFile, keyFile }) {
    const site = edit(this.file, example, [
      [/server 127\.0\.0\.1:5280;/, `server 127.0.0.1:${cmPort};`],
      [/listen 443 ssl http2;/, `listen 127.0.0.1:${port} ssl http2;`],
      [/\n\s*listen \[::\]:443 ssl http2;/, ''],
      [/ssl_certificate +\S+;/, `ssl_certificate ${certFile};`],
      [/ssl_certificate_key +\S+;/, `ssl_certificate_key ${keyFile};`],
    ]);
    const temps = ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];
    for (const sub of temps) await mkdir(join(dir, sub));
    await writeFile(join(dir, 'site.conf'), site);
    await writeFile(join(dir, 'nginx.conf'), [
      'daemon off;',
      // As root, workers would switch to "nobody", who cannot enter the private temp dir.
      ...(process.getuid?.() === 0 ? ['user root;'] : []),
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 512; }',
      'http {',
      '  access_log off;',
      ...temps.map((sub) => `  ${sub === 'body' ? 'client_body' : sub}_temp_path ${join(dir, sub)};`),
      `  include ${join(dir, 'site.conf')};`,
      '}',
      '',
    ].join('\n'));
    return spawn('nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], { env: { ...process.env, PATH }, stdio: ['ignore', 'ignore', 'pipe'] });
  },
  // Graceful stop of master and workers, by the master's PID.
  stopSignal: 'SIGQUIT',
};

const caddy: ReverseProxy = {
  name: 'Caddy',
  file: 'deploy/Caddyfile',
  skip: installed('caddy', 'version') ? false : 'caddy is not installed (Debian: apt-get install caddy)',
  timeouts: [/read_timeout (\d+)s/, /write_timeout (\d+)s/],
  unbuffered: [/flush_interval -1/],
  async start(example, { dir, cmPort, port, certFile, keyFile }) {
    const site = edit(this.file, example, [
      [/^chat\.example\.com \{$/m, `https://localhost:${port} {\n\tbind 127.0.0.1\n\ttls ${certFile} ${keyFile}`],
      [/reverse_proxy 127\.0\.0\.1:5280 \{/, `reverse_proxy 127.0.0.1:${cmPort} {`],
    ]);
    // No admin endpoint, no port 80 redirect listener, state in the test's directory.
    const global = `{\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system ${join(dir, 'data')}\n}\n`;
    await writeFile(join(dir, 'Caddyfile'), global + site);
    const env = { ...process.env, PATH, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') };
    return spawn('caddy', ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  },
  stopSignal: 'SIGTERM',
};

for (const proxy of [nginx, caddy]) {
  describe(`${proxy.file} in front of the CM`, { skip: proxy.skip, timeout: 120_000 }, () => {
    let dir: string;
    let xmpp: ScriptedXmppServer;
    let cm: ConnectionManager;
    let cmUrl: string;
    let child: ChildProcess | undefined;
    let origin: string;
    let ca: string;
    const memory = createMemoryLogger('info');

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), `shared-bosh-${proxy.name.toLowerCase()}-`));
      xmpp = await ScriptedXmppServer.start({ starttls: 'required' });
      const config: CmConfig = {
        ...DEFAULT_CONFIG,
        http: { ...DEFAULT_CONFIG.http, port: 0, trustProxy: true },
        domains: { [xmpp.domain]: await xmpp.domainConfig('required') },
        bosh: { ...DEFAULT_CONFIG.bosh, creationsPerMinute: 0 },
      };
      cm = createConnectionManager(config, { logger: memory.logger });
      cmUrl = (await cm.start()).url;

      const pem = await createTestCertificate(['localhost']);
      ca = pem.ca;
      const certFile = join(dir, 'cert.pem');
      const keyFile = join(dir, 'key.pem');
      await writeFile(certFile, pem.cert);
      await writeFile(keyFile, pem.key);
      const port = await getFreePort();
      child = await proxy.start(await readFile(proxy.file, 'utf8'), { dir, cmPort: Number(new URL(cmUrl).port), port, certFile, keyFile });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      for (let i = 0; !(await tcpAccepts(port)); i++) {
        if (child.exitCode !== null || i > 100) {
          const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
          throw new Error(`${proxy.name} did not start: ${stderr} ${log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      origin = `https://localhost:${port}`;
    });

    after(async () => {
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        child.kill(proxy.stopSignal);
        await exited;
      }
      await cm?.stop();
      await xmpp?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test(`${proxy.name}: the timeouts outlast the longest wait, and answers are not buffered`, async () => {
      const example = await readFile(proxy.file, 'utf8');
      for (const pattern of proxy.timeouts) {
        const m = pattern.exec(example);
        assert.ok(m && Number(m[1]) > DEFAULT_CONFIG.bosh.maxWaitS, `${pattern} > bosh.maxWaitS`);
      }
      for (const pattern of proxy.unbuffered) assert.match(example, pattern);
    });

    test(`HTTPS + HTTP/2 through ${proxy.name}: session creation, login, and a held request answered when a message arrives`, async () => {
      const session = h2connect(origin, { ca });
      try {
        await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
        assert.equal(session.alpnProtocol, 'h2');
        const alice = new H2BoshClient(session);
        const bob = new H2BoshClient(session);
        const created = await alice.create();
        assert.equal(created.status, 200);
        assert.equal(created.body.children[0]?.name, 'stream:features', created.text);
        await bob.create();
        const aliceJid = await alice.login('alice', 'a');
        const bobJid = await bob.login('bob', 'b');

        let answered = false;
        const held = bob.send().finally(() => (answered = true));
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(answered, false, "bob's empty request is held (wait='10'), not answered at once");
        const sent = alice.send(`<message to='${bobJid}' id='n1'><body>through ${proxy.name}</body></message>`);
        const got = (await held).body.children.find((el) => el.name === 'message');
        assert.ok(got);
        assert.equal(got.attrs.from, aliceJid);
        assert.equal(got.getChild('body')!.text(), `through ${proxy.name}`);
        // alice's request is held in turn until her next one (hold='1').
        await Promise.all([sent, alice.send('', "type='terminate'"), bob.send('', "type='terminate'")]);
      } finally {
        session.close();
      }
    });

    test(`forwarded headers: a session created through ${proxy.name} (X-Forwarded-Proto: https) is a TLS session, so a plain request to the CM for it is dropped`, async () => {
      const session = h2connect(origin, { ca });
      try {
        const tab = new H2BoshClient(session);
        const created = await tab.create();
        assert.ok(tab.sid, created.text);

        await assert.rejects(fetch(cmUrl, { method: 'POST', body: tab.body() }), 'plain HTTP straight to the CM is dropped for a TLS session (B-136)');
        tab.rid -= 1; // that rid never reached the session: the client sends it again, over HTTPS
        const still = await tab.send('', "type='terminate'");
        assert.equal(still.body.attrs.type, 'terminate');
        assert.equal(still.body.attrs.condition, undefined, 'the session went on until the client ended it');
      } finally {
        session.close();
      }
    });

    test(`${proxy.name}: only the BOSH endpoint is public: /metrics and the probes are not proxied`, async () => {
      const session = h2connect(origin, { ca });
      try {
        for (const path of ['/metrics', '/healthz', '/readyz']) {
          const status = await new Promise<number>((resolve, reject) => {
            const stream = session.request({ ':path': path });
            stream.on('response', (h) => resolve(Number(h[':status'])));
            stream.on('error', reject);
            stream.resume();
          });
          assert.equal(status, 404, path);
        }
      } finally {
        session.close();
      }
    });
  });
}
