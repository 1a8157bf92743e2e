/**
 * deploy/shared-bosh.service, checked by systemd itself: `systemd-analyze verify` (every key known,
 * every value valid; the unit's ExecStart pointed at this build, since verify needs an executable)
 * and `systemd-analyze security --offline` (the hardening holds). Skipped without systemd-analyze.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const found = spawnSync('systemd-analyze', ['--version']).status === 0;
const skip = found ? false : 'systemd-analyze is not installed (Debian: systemd)';

async function unitForThisBuild(t: { after(fn: () => Promise<void>): void }): Promise<{ file: string; text: string }> {
  const text = await readFile('deploy/shared-bosh.service', 'utf8');
  const exec = /^ExecStart=(\S+) (.*)$/m.exec(text);
  assert.ok(exec, 'ExecStart=');
  const dir = await mkdtemp(join(tmpdir(), 'shared-bosh-unit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'shared-bosh.service');
  await writeFile(file, text.replace(exec[0], `ExecStart=${process.execPath} ${resolve('dist/src/main.js')} ${exec[2]}`));
  return { file, text };
}

test('the systemd unit: systemd-analyze verify finds nothing to say', { skip }, async (t) => {
  const { file, text } = await unitForThisBuild(t);
  const verify = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  assert.equal(verify.stderr + verify.stdout, '', 'no warnings (an unknown key is only a warning)');
  assert.equal(verify.status, 0);
  for (const line of ['User=shared-bosh', 'LimitNOFILE=65536', 'Restart=on-failure', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'PrivateTmp=yes']) {
    assert.match(text, new RegExp(`^${line}$`, 'm'), line);
  }
});

test('the systemd unit: systemd-analyze security rates its exposure OK or better', { skip }, async (t) => {
  const { file } = await unitForThisBuild(t);
  const security = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', file], { encoding: 'utf8' });
  if (security.status !== 0 && /offline/.test(security.stderr)) return t.skip('this systemd-analyze has no --offline');
  const m = /Overall exposure level for \S+: (\d+\.\d+) (\w+)/.exec(security.stdout);
  assert.ok(m, security.stdout + security.stderr);
  assert.ok(Number(m[1]) <= 2, `exposure ${m[1]} ${m[2]}`);
});
