import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const CLEAN_ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHARED_BOSH_')));

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...CLEAN_ENV, ...env }, timeout: 10_000 });
}

test('--help prints every flag and exits 0; --version prints the version', () => {
  const help = run(['--help']);
  assert.equal(help.status, 0);
  for (const flag of ['--config', '--host', '--port', '--path', '--domain', '--upstream-host', '--upstream-port', '--tls', '--ca-file', '--insecure', '--log-level', '--help', '--version']) {
    assert.ok(help.stdout.includes(flag), flag);
  }
  assert.match(help.stdout, /^ {7}shared-bosh check \[options\] /m);
  const version = run(['--version']);
  assert.equal(version.status, 0);
  assert.match(version.stdout, /^shared-bosh \d+\.\d+\.\d+\n$/);
});

test('a bad flag or value is one line on stderr and exit code 2', () => {
  const table: Array<[string[], NodeJS.ProcessEnv, string]> = [
    [['--port', 'abc'], {}, 'shared-bosh: http.port: must be an integer 0..65535, got "abc" (from --port)\n'],
    [[], { SHARED_BOSH_TLS: 'sometimes' }, 'shared-bosh: domains.localhost.tls: must be one of required, optional, off, got "sometimes" (from SHARED_BOSH_TLS)\n'],
    [['--bogus'], {}, "shared-bosh: Unknown option '--bogus' (see --help)\n"],
  ];
  for (const [args, env, stderr] of table) {
    const result = run(args, env);
    assert.equal(result.status, 2, args.join(' '));
    assert.equal(result.stderr, stderr);
    assert.equal(result.stdout, '');
  }
});

test('D20 D26: it says where it listens and connects (and that node lacks its flags when started without them), serves the endpoint, and stops with exit 0 on SIGTERM', async () => {
  const child = spawn(
    process.execPath,
    [MAIN, '--port', '0', '--log-level', 'silent', '--domain', 'example.com', '--upstream-host', '127.0.0.1', '--upstream-port', '15222', '--tls', 'off'],
    { env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on (\S+)/.exec(stderr);
      if (m && stderr.includes('domain example.com')) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
  });
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/http-bind$/);
  assert.match(stderr, /^ {2}domain example\.com -> 127\.0\.0\.1:15222, no TLS$/m);
  const page = await fetch(url);
  assert.equal(page.status, 200);
  await page.arrayBuffer();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(stderr, /SIGTERM: stopping/);
  // Started as plain `node dist/src/main.js`, without src/node-flags.ts's flags: it says so.
  assert.match(stderr, /^ {2}note: node was started without --single-threaded-gc \(see docs\/operations\.md, "Garbage collection"\)$/m);
});

test('a port in use: one clear line naming the flag, exit 1, and no stack trace in the log', async () => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    const port = (blocker.address() as { port: number }).port;
    const result = run(['--port', String(port), '--host', '127.0.0.1']);
    assert.equal(result.status, 1);
    assert.equal(result.stderr, `shared-bosh: cannot listen on 127.0.0.1:${port}: the port is in use (another shared-bosh still running?); choose another with --port PORT (http.port, SHARED_BOSH_PORT)\n`);
    const log = JSON.parse(result.stdout.trim()) as Record<string, unknown>;
    assert.equal(log.code, 'EADDRINUSE');
    assert.equal(log.err, undefined);
    assert.doesNotMatch(result.stdout, /\bat .*\.js:\d+/, 'no stack frames');
    const metrics = run(['--port', '0', '--host', '127.0.0.1'], { SHARED_BOSH_METRICS_PORT: String(port) });
    assert.equal(metrics.status, 1);
    assert.equal(metrics.stderr, `shared-bosh: cannot listen for metrics on 127.0.0.1:${port}: the port is in use (another shared-bosh still running?); choose another with metrics.port (SHARED_BOSH_METRICS_PORT)\n`);
  } finally {
    blocker.close();
  }
});

test('shared-bosh check: one line per served domain with the fix, exit 1 when one fails; the bad flags exit 2 as for the CM', () => {
  const result = run(['check', '--domain', 'example.com', '--upstream-host', '127.0.0.1', '--upstream-port', '1', '--tls', 'off']);
  assert.equal(result.status, 1);
  assert.equal(result.stdout, 'domain example.com: FAILED: could not connect to example.com: connect ECONNREFUSED 127.0.0.1:1: is the XMPP server running there? set --upstream-host/--upstream-port (domains.example.com.host/port)\n');
  assert.equal(run(['check', '--port', 'x']).status, 2);
});
