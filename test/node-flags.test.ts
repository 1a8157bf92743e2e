import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NODE_FLAGS, runsWithNodeFlags } from '../src/node-flags.js';
import { cmNodeArgs } from '../bench/server-processes.js';

/**
 * src/node-flags.ts is the one list of the flags Node runs the CM with; every way the CM is
 * started must pass them: the `shared-bosh` command (its first line, which the kernel hands to
 * `env -S`), `npm start`, the benchmark's CM, and the deployment files through the command.
 * test/package/install.test.ts runs the installed command and checks that node got them.
 */
const flags = NODE_FLAGS.join(' ');

test('D26: the shared-bosh command starts node with NODE_FLAGS: its first line, in the source and the build', () => {
  for (const file of ['src/main.ts', 'dist/src/main.js']) {
    const first = readFileSync(file, 'utf8').split('\n', 1)[0];
    assert.equal(first, `#!/usr/bin/env -S node ${flags}`, file);
  }
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
  assert.equal(pkg.bin['shared-bosh'], 'dist/src/main.js');
  assert.equal(pkg.scripts.start, `node ${flags} dist/src/main.js`);
});

test('D26: the deployment files start the shared-bosh command (so its first line applies), never plain node', () => {
  assert.match(readFileSync('deploy/shared-bosh.service', 'utf8'), /^ExecStart=\S+\/\.bin\/shared-bosh /m);
  const docker = readFileSync('deploy/Dockerfile', 'utf8');
  assert.match(docker, /^ENTRYPOINT \["shared-bosh"\]$/m);
  assert.doesNotMatch(docker, /^(ENTRYPOINT|CMD) \["node", "[^-]/m);
});

test('D26: the benchmark runs the CM with NODE_FLAGS (plus --expose-gc and any BENCH_CM_NODE_ARGS; none only when asked)', () => {
  assert.deepEqual(cmNodeArgs({}), ['--expose-gc', ...NODE_FLAGS]);
  assert.deepEqual(cmNodeArgs({ BENCH_CM_NODE_ARGS: ' --trace-gc ' }), ['--expose-gc', ...NODE_FLAGS, '--trace-gc']);
  assert.deepEqual(cmNodeArgs({ BENCH_CM_NODE_FLAGS: 'none' }), ['--expose-gc']);
});

test('runsWithNodeFlags: true only when every flag is among node\'s own arguments', () => {
  assert.equal(runsWithNodeFlags([...NODE_FLAGS]), true);
  assert.equal(runsWithNodeFlags(['--expose-gc', ...NODE_FLAGS, '--trace-gc']), true);
  assert.equal(runsWithNodeFlags([]), false);
  assert.equal(runsWithNodeFlags(['--expose-gc']), false);
});
