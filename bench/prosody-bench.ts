/**
 * Prosody for the benchmark: the test harness's throwaway instance (test/support/prosody.ts: own
 * temp dir, config, data dir, generated certificate, loopback ports, `prosody --config FILE -F`,
 * no mod_posix, stopped by PID), with
 *
 * - `c2s_require_encryption = false` and `allow_unencrypted_plain_auth = true`, so that the CM can
 *   talk plain TCP to the c2s port and pass the client's SASL PLAIN through (Prosody's mod_bosh
 *   is plain HTTP and already counts as secure through `consider_bosh_secure = true`);
 * - accounts written straight into the data dir instead of `prosodyctl register` (about 0.3 s
 *   per account, so an hour for 10k): one `accounts/<user>.dat` file per user in the format of
 *   mod_auth_internal_hashed (SCRAM-SHA-1 stored_key / server_key, salt, iteration_count). All
 *   bench users share one password and one salt, so the PBKDF2 runs once and 10k accounts take
 *   well under a second to write. Prosody reads the file at login, so accounts can be written
 *   after it started;
 * - every thread pinned to one core (`taskset -a -pc CORE PID`) as soon as it runs.
 */
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getFreePort, startProsody, type ProsodyInstance } from '../test/support/prosody.js';
import { pin } from './proc.js';

export const BENCH_PASSWORD = 'bench-password';
export const ITERATIONS = 4096;
const SALT = 'b3nch-5a1t-0000-0000-000000000000';

export interface BenchProsody {
  instance: ProsodyInstance;
  pid: number;
  c2sPort: number;
  /** mod_bosh over plain HTTP, or over HTTPS when started with `https`. */
  boshUrl: string;
  domain: string;
  /** Full JIDs of the sessions (c2s or BOSH) bound for users whose name starts with `prefix`. */
  sessionsOf(prefix: string): Promise<number>;
  /** Writes accounts (password BENCH_PASSWORD) into the data dir. */
  addUsers(users: readonly string[]): Promise<void>;
  /** Two full Lua GC cycles through the admin shell, before memory readings. */
  gc(): Promise<void>;
  /** SIGTERM by PID (SIGKILL after timeoutMs), then removes the temp dir. */
  stop(timeoutMs?: number): Promise<void>;
}

let credentials: string | undefined;

/** The body of an `accounts/<user>.dat` file for mod_auth_internal_hashed. */
function accountFile(): string {
  if (credentials === undefined) {
    const salted = pbkdf2Sync(BENCH_PASSWORD, SALT, ITERATIONS, 20, 'sha1');
    const clientKey = createHmac('sha1', salted).update('Client Key').digest();
    const storedKey = createHash('sha1').update(clientKey).digest('hex');
    const serverKey = createHmac('sha1', salted).update('Server Key').digest('hex');
    credentials = `return {\n\t["iteration_count"] = ${ITERATIONS};\n\t["salt"] = "${SALT}";\n`
      + `\t["server_key"] = "${serverKey}";\n\t["stored_key"] = "${storedKey}";\n};\n`;
  }
  return credentials;
}

/** util.datamanager's encode(): every non-alphanumeric byte as %xx. */
function encode(s: string): string {
  return s.replace(/[^A-Za-z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Prosody's Lua GC: its default (incremental, threshold 105, speed 500) or generational. */
export type ProsodyGc = 'default' | 'generational';

/** Prosody's https port for mod_bosh (bench/tabs.ts), with this certificate and key (PEM files). */
export interface ProsodyHttps {
  certFile: string;
  keyFile: string;
}

export async function startBenchProsody(core: number, gc: ProsodyGc = 'default', https?: ProsodyHttps): Promise<BenchProsody> {
  const httpsPort = https ? await getFreePort() : 0;
  const instance = await startProsody({
    domains: ['localhost'],
    requireEncryption: false,
    users: [],
    extraConfig: [
      'allow_unencrypted_plain_auth = true -- bench: the CM speaks plain TCP to c2s on loopback',
      gc === 'generational' ? 'gc = { mode = "generational" }' : '',
      process.env.BENCH_PROSODY_EXTRA ?? '',
      https ? `https_ports = { ${httpsPort} }\nhttps_interfaces = { "127.0.0.1" }\n`
        + `https_ssl = { certificate = ${JSON.stringify(https.certFile)}; key = ${JSON.stringify(https.keyFile)}; }` : '',
    ].join('\n'),
  });
  try {
    pin(instance.pid, core);
  } catch (err) {
    await instance.stop();
    throw err;
  }
  const domain = instance.domain;
  const accountsDir = join(instance.dir, 'data', encode(domain), 'accounts');
  await mkdir(accountsDir, { recursive: true });
  return {
    instance,
    pid: instance.pid,
    c2sPort: instance.c2sPort,
    boshUrl: https ? `https://127.0.0.1:${httpsPort}/http-bind` : instance.boshUrl,
    domain,
    async sessionsOf(prefix) {
      return (await instance.fullSessions()).filter((j) => j.startsWith(prefix)).length;
    },
    async addUsers(users) {
      const body = accountFile();
      const batch = 256;
      for (let i = 0; i < users.length; i += batch) {
        await Promise.all(users.slice(i, i + batch).map((u) => writeFile(join(accountsDir, `${encode(u)}.dat`), body)));
      }
    },
    async gc() {
      await instance.shell('>collectgarbage("collect") collectgarbage("collect") return "gc done"');
    },
    stop: (timeoutMs?: number) => instance.stop(timeoutMs),
  };
}

/** `prosody --version` prints nothing useful and starts a server; ask the package manager. */
export function prosodyVersion(): Promise<string> {
  return new Promise((resolve) => {
    execFile('dpkg-query', ['-W', '-f', '${Version}', 'prosody'], (err, stdout) => {
      if (!err && String(stdout).trim() !== '') {
        resolve(`Prosody ${String(stdout).trim()} (Debian package)`);
        return;
      }
      execFile('prosodyctl', ['about'], { timeout: 10_000 }, (err2, out2) => {
        const m = /Prosody\s+([0-9][^\s]*)/.exec(String(out2));
        resolve(!err2 && m ? `Prosody ${m[1]}` : 'Prosody (version unknown)');
      });
    });
  });
}
