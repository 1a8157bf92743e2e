/**
 * Issue 13: `shared-bosh check` and the check at start against a throwaway Prosody, whose
 * certificate is signed by a CA of its own (test/support/prosody.ts): without --ca-file the check
 * fails with one line that says why and what fixes it; with it, the check passes and the
 * readiness probe says ready.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { prosodyAvailable, startProsody, type ProsodyInstance } from '../support/prosody.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const CLEAN_ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHARED_BOSH_')));
const skip = prosodyAvailable() ? false : 'prosody is not installed';

describe('upstream check against Prosody', { skip, timeout: 120_000 }, () => {
  let prosody: ProsodyInstance;
  let upstream: string[];

  before(async () => {
    prosody = await startProsody();
    upstream = ['--domain', prosody.domain, '--upstream-host', '127.0.0.1', '--upstream-port', String(prosody.c2sPort)];
  });
  after(() => prosody?.stop());

  const check = (args: string[]) =>
    spawnSync(process.execPath, [MAIN, 'check', ...args], { encoding: 'utf8', env: CLEAN_ENV, timeout: 30_000 });

  test('without --ca-file: exit 1 and one line naming the server, the name checked, the reason and the fix', () => {
    const result = check(upstream);
    assert.equal(result.status, 1, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`^domain localhost: FAILED: TLS: certificate (is signed by|chain ends in) a CA this machine does not trust \\(server 127\\.0\\.0\\.1:${prosody.c2sPort}, name checked: localhost\\): pass --ca-file FILE with the server's CA \\(domains\\.localhost\\.caFile\\), or --tls off only on loopback\\n$`),
    );
  });

  test('with --ca-file: exit 0 and OK', () => {
    const result = check([...upstream, '--ca-file', prosody.caFile]);
    assert.equal(result.stdout, 'domain localhost: OK (STARTTLS, certificate valid for localhost)\n');
    assert.equal(result.status, 0);
  });

  test('a domain the server does not serve: the stream error is named', () => {
    const result = check(['--domain', 'nothere.example', '--upstream-host', '127.0.0.1', '--upstream-port', String(prosody.c2sPort), '--ca-file', prosody.caFile]);
    assert.equal(result.status, 1);
    assert.match(result.stdout, /^domain nothere\.example: FAILED: the server answered with the stream error <host-unknown\/>: that server does not serve nothere\.example; check --upstream-host \(domains\.nothere\.example\.host\)\n$/);
  });

  test('at start the CM prints the check; /readyz is 503 without the CA and 200 with it, /healthz 200 either way', async () => {
    for (const [extra, ready] of [[[], false], [['--ca-file', prosody.caFile], true]] as const) {
      const child = spawn(process.execPath, [MAIN, '--port', '0', '--log-level', 'silent', ...upstream, ...extra], { env: CLEAN_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        let stderr = '';
        const base = await new Promise<string>((resolve, reject) => {
          child.stderr.on('data', (chunk: Buffer) => {
            stderr += chunk.toString();
            const m = /listening on (\S+?)\/http-bind/.exec(stderr);
            if (m && stderr.includes('check: domain localhost:')) resolve(m[1]!);
          });
          void exited.then((code) => reject(new Error(`exited with ${code}: ${stderr}`)));
        });
        assert.match(stderr, ready ? /^ {2}check: domain localhost: OK \(STARTTLS, certificate valid for localhost\)$/m : /^ {2}check: domain localhost: FAILED: TLS: .*pass --ca-file FILE/m);
        const readyz = await fetch(`${base}/readyz`);
        const body = await readyz.text();
        assert.equal(readyz.status, ready ? 200 : 503, body);
        assert.match(body, ready ? /^ready\ndomain localhost: OK/ : /^not ready\ndomain localhost: FAILED: TLS: /);
        assert.equal(readyz.headers.get('access-control-allow-origin'), null);
        assert.equal((await fetch(`${base}/healthz`)).status, 200);
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});
