/**
 * deploy/nginx.conf, run: Debian's nginx in front of the CM with a throwaway certificate, and a
 * browser-like HTTP/2 client (node:http2) creating BOSH sessions and holding a request through it.
 * Skipped when nginx is not installed (`apt-get install nginx-light`; .ci/run installs it).
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

const NGINX_PATH = `${process.env.PATH ?? ''}:/usr/sbin:/usr/local/sbin`;
const nginxFound = spawnSync('nginx', ['-v'], { env: { ...process.env, PATH: NGINX_PATH } }).status === 0;
const skip = nginxFound ? false : 'nginx is not installed (Debian: apt-get install nginx-light)';

/**
 * The example with only what must differ in a test: the CM's port, a loopback listen port and
 * the throwaway certificate. Every substitution must match, so that the test follows the file.
 */
function render(example: string, cmPort: number, port: number, certFile: string, keyFile: string): string {
  const edits: Array<[RegExp, string]> = [
    [/server 127\.0\.0\.1:5280;/, `server 127.0.0.1:${cmPort};`],
    [/listen 443 ssl http2;/, `listen 127.0.0.1:${port} ssl http2;`],
    [/\n\s*listen \[::\]:443 ssl http2;/, ''],
    [/ssl_certificate +\S+;/, `ssl_certificate ${certFile};`],
    [/ssl_certificate_key +\S+;/, `ssl_certificate_key ${keyFile};`],
  ];
  let text = example;
  for (const [pattern, replacement] of edits) {
    assert.match(text, pattern, `deploy/nginx.conf has ${pattern}`);
    text = text.replace(pattern, replacement);
  }
  return text;
}

describe('deploy/nginx.conf in front of the CM', { skip, timeout: 120_000 }, () => {
  let dir: string;
  let xmpp: ScriptedXmppServer;
  let cm: ConnectionManager;
  let cmUrl: string;
  let nginx: ChildProcess | undefined;
  let origin: string;
  let ca: string;
  const memory = createMemoryLogger('info');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shared-bosh-nginx-'));
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
    const site = render(await readFile('deploy/nginx.conf', 'utf8'), Number(new URL(cmUrl).port), port, certFile, keyFile);
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(dir, sub));
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
      ...['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((sub) => `  ${sub === 'body' ? 'client_body' : sub}_temp_path ${join(dir, sub)};`),
      `  include ${join(dir, 'site.conf')};`,
      '}',
      '',
    ].join('\n'));
    nginx = spawn('nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], {
      env: { ...process.env, PATH: NGINX_PATH },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    nginx.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    for (let i = 0; !(await tcpAccepts(port)); i++) {
      if (nginx.exitCode !== null || i > 100) {
        const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
        throw new Error(`nginx did not start: ${stderr} ${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    origin = `https://localhost:${port}`;
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx!.once('exit', resolve));
      nginx.kill('SIGQUIT'); // graceful stop of master and workers, by the master's PID
      await exited;
    }
    await cm?.stop();
    await xmpp?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the timeouts outlast the longest wait, and answers are not buffered', async () => {
    const example = await readFile('deploy/nginx.conf', 'utf8');
    for (const directive of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const m = new RegExp(`${directive} (\\d+)s;`).exec(example);
      assert.ok(m && Number(m[1]) > DEFAULT_CONFIG.bosh.maxWaitS, `${directive} > bosh.maxWaitS`);
    }
    assert.match(example, /proxy_buffering off;/);
    assert.match(example, /proxy_request_buffering off;/);
  });

  test('HTTPS + HTTP/2 through nginx: session creation, login, and a held request answered when a message arrives', async () => {
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
      const sent = alice.send(`<message to='${bobJid}' id='n1'><body>through nginx</body></message>`);
      const got = (await held).body.children.find((el) => el.name === 'message');
      assert.ok(got);
      assert.equal(got.attrs.from, aliceJid);
      assert.equal(got.getChild('body')!.text(), 'through nginx');
      // alice's request is held in turn until her next one (hold='1').
      await Promise.all([sent, alice.send('', "type='terminate'"), bob.send('', "type='terminate'")]);
    } finally {
      session.close();
    }
  });

  test('forwarded headers: a session created through nginx (X-Forwarded-Proto: https) is a TLS session, so a plain request to the CM for it is dropped', async () => {
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

  test('only the BOSH endpoint is public: /metrics and the probes are not proxied', async () => {
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
