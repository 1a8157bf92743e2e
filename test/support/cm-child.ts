/**
 * The connection manager as a child process (`node --single-threaded-gc dist/src/main.js --config FILE`,
 * with src/node-flags.ts's flags as `shared-bosh` runs it), for tests
 * that must see the process itself: that it is still alive after hostile input (test/fuzz), how
 * it answers signals (test/e2e/faults.test.ts).
 *
 *   const cm = await startCmChild({ domains: { localhost: await server.domainConfig('off') } });
 *   t.after(() => cm.stop());
 *   // cm.url is the BOSH URL (port 0: a free port); cm.alive says whether it still runs
 *
 * The config is a partial CmConfig merged section by section over test defaults (port 0,
 * unlimited creations, log level 'error'), written as JSON (a YAML subset) to a temp file.
 * The process is stopped by its PID only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CmConfig } from '../../src/config.js';
import { NODE_FLAGS } from '../../src/node-flags.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const CLEAN_ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHARED_BOSH_')));

/** Sections of CmConfig, each partial. */
export type CmChildConfig = { [K in keyof CmConfig]?: CmConfig[K] extends object ? Partial<CmConfig[K]> : CmConfig[K] };

export interface CmChild {
  readonly pid: number;
  /** The BOSH endpoint, e.g. http://127.0.0.1:40123/http-bind. */
  readonly url: string;
  readonly process: ChildProcess;
  /** Still running (no exit seen). */
  readonly alive: boolean;
  /** Exit code or signal once it has exited. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it wrote to stderr so far (stdout: the JSON log, last 64 KiB). */
  stderr(): string;
  stdout(): string;
  /** Sends a signal to the PID (nothing once it has exited). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after `timeoutMs`; resolves once it has exited. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

const TEST_DEFAULTS: CmChildConfig = {
  http: { host: '127.0.0.1', port: 0 },
  bosh: { creationsPerMinute: 0 },
  logLevel: 'error',
};

export async function startCmChild(config: CmChildConfig, opts: { startTimeoutMs?: number } = {}): Promise<CmChild> {
  const merged: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(TEST_DEFAULTS), ...Object.keys(config)]) as Set<keyof CmChildConfig>) {
    const a = TEST_DEFAULTS[key];
    const b = config[key];
    merged[key] = typeof a === 'object' && typeof b === 'object' && !Array.isArray(b) && key !== 'domains' ? { ...a, ...b } : (b ?? a);
  }
  const dir = mkdtempSync(join(tmpdir(), 'shared-bosh-cm-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, JSON.stringify(merged, null, 2));
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, '--config', file], { env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  let exited = false;
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString()).slice(-65_536);
  });
  // Last resort if the test process exits without stop(): the CM must not outlive it.
  const onExit = (): void => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = true;
      process.removeListener('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, signal });
    });
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CM did not start within ${opts.startTimeoutMs ?? 15_000} ms: ${stderr}`));
    }, opts.startTimeoutMs ?? 15_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on (\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`CM exited at start (code ${code}, signal ${signal}): ${stderr}`));
    });
  });
  const pid = child.pid!;
  const signal = (sig: NodeJS.Signals): void => {
    if (!exited) process.kill(pid, sig);
  };
  return {
    pid,
    url,
    process: child,
    get alive() {
      return !exited;
    },
    exit,
    stderr: () => stderr,
    stdout: () => stdout,
    signal,
    async stop(timeoutMs = 5000) {
      if (exited) return;
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), timeoutMs);
      await exit;
      clearTimeout(timer);
    },
  };
}
