/**
 * Issue 13: `shared-bosh check` and the check at start against a throwaway Prosody, whose
 * certificate is signed by a CA of its own (test/support/prosody.ts): without --ca-file the check
 * fails with one line that says why and what fixes it; with it, the check passes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
});
