import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Issue 13: the package installs and runs like a Node service, with no compiler at run time.
 * `npm pack` (the build is current: `npm test` just ran it) -> `npm install --omit=dev --offline`
 * of the tarball into an empty project (dependencies from npm's cache, as after `npm ci`) ->
 * `shared-bosh --version`, a start and a stop, and the two library entry points.
 */
const run = promisify(execFile);
const ROOT = process.cwd();
const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };

test('the npm pack tarball installs with --omit=dev --offline and runs: --version, start, stop, both library entry points', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-bosh-pack-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // --ignore-scripts: no prepack rebuild, dist/ is what `npm test` just compiled.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = info!.files.map((f) => f.path);
  for (const needed of ['LICENSE', 'README.md', 'package.json', 'dist/src/main.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/client/index.js', 'dist/src/client/index.d.ts']) {
    assert.ok(files.includes(needed), `${needed} is in the tarball`);
  }
  assert.deepEqual(files.filter((f) => /\.test\.|\/testing\/|\.map$|^src\/|^test\//.test(f)), [], 'no tests, test helpers, sources or maps');

  const app = join(dir, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  const install = (mode: string) => run('npm', ['install', '--omit=dev', mode, '--no-audit', '--no-fund', '--no-package-lock', join(dir, info!.filename)], { cwd: app });
  // `npm ci` caches the dependencies' tarballs but not their registry metadata: a first run may
  // have to fetch that (only that) from the registry; later runs are offline.
  await install('--offline').catch(async (err: { stderr?: string }) => {
    if (!err.stderr?.includes('ENOTCACHED')) throw err;
    t.diagnostic('registry metadata not in the npm cache yet; installing with --prefer-offline');
    await install('--prefer-offline');
  });
  assert.equal(existsSync(join(app, 'node_modules', 'typescript')), false, 'no compiler installed');

  const bin = join(app, 'node_modules', '.bin', 'shared-bosh');
  const version = await run(bin, ['--version'], { cwd: app });
  assert.equal(version.stdout, `shared-bosh ${pkg.version}\n`);

  const lib = await run(process.execPath, ['--input-type=module', '-e',
    "const cm = await import('shared-bosh'); const client = await import('shared-bosh/client');" +
    "console.log(typeof cm.createConnectionManager, typeof client.SharedClient, typeof cm.DEFAULT_CONFIG.http.port)"], { cwd: app });
  assert.equal(lib.stdout, 'function function number\n');

  const child = spawn(bin, ['--port', '0', '--log-level', 'silent', '--domain', 'localhost', '--upstream-host', '127.0.0.1', '--upstream-port', '1', '--tls', 'off'], {
    cwd: app, stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on (\S+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`exited with ${code}: ${stderr}`)));
  });
  const page = await fetch(url);
  assert.equal(page.status, 200);
  await page.arrayBuffer();
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  // The command's first line (`#!/usr/bin/env -S node --single-threaded-gc`) gave node its flags.
  assert.doesNotMatch(stderr, /node was started without/);
});

const PRESTART = join(ROOT, 'scripts', 'build-if-stale.mjs');

test('npm start (prestart) does not rebuild a current dist/ and needs no TypeScript for it; a stale dist/ without TypeScript says what to do', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-bosh-prestart-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'src'));
  await mkdir(join(dir, 'dist', 'src'), { recursive: true });
  await writeFile(join(dir, 'src', 'main.ts'), 'export {};\n');
  await writeFile(join(dir, 'dist', 'src', 'main.js'), 'export {};\n');
  const older = new Date(Date.now() - 60_000);
  await utimes(join(dir, 'src', 'main.ts'), older, older);

  // No node_modules at all: a current build starts without a compiler, silently.
  const current = await run(process.execPath, [PRESTART], { cwd: dir });
  assert.equal(current.stderr, '');

  const newer = new Date(Date.now() + 60_000);
  await utimes(join(dir, 'src', 'main.ts'), newer, newer);
  const stale = await run(process.execPath, [PRESTART], { cwd: dir }).then(
    () => assert.fail('a stale build without TypeScript must fail'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /src\/main\.ts is newer than dist\/src\/main\.js, and TypeScript is not installed/);
  assert.match(stale.stderr, /npm ci && npm run build && npm prune --omit=dev/);
});
