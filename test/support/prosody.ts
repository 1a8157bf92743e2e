/**
 * A throwaway Prosody (0.12, Debian package `prosody`) for end-to-end tests.
 *
 * `startProsody()` makes a temp dir holding its own config, data dir, admin socket, log file and a
 * freshly generated CA + leaf certificate for every served domain; it then runs
 * `prosody --config FILE -F` in the foreground (mod_posix is disabled, so there is no pid file, no
 * daemonising and no root check). It listens on 127.0.0.1 only, on free ports picked at runtime:
 * c2s (STARTTLS, `c2s_require_encryption` on by default) and plain HTTP for Prosody's own mod_bosh
 * (`http://127.0.0.1:<httpPort>/http-bind`). s2s is disabled.
 *
 * Users are created with `prosodyctl --config FILE register USER HOST PASSWORD` (auth backend
 * internal_hashed, so SCRAM-SHA-1 and PLAIN both work; PLAIN only on encrypted streams, and BOSH
 * requests to Prosody count as encrypted through `consider_bosh_secure = true`).
 *
 * Online sessions are read through mod_admin_shell: `prosodyctl --config FILE shell '>lua code'`
 * talks to this instance's own admin socket (see `onlineResources()` / `shell()`).
 *
 * `stop()` sends SIGTERM to the PID (SIGKILL after a timeout) and removes the temp dir. Prosody is
 * never stopped by name.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROSODY_BIN = process.env.PROSODY_BIN ?? 'prosody';
export const PROSODYCTL_BIN = process.env.PROSODYCTL_BIN ?? 'prosodyctl';
export const LOOPBACK = '127.0.0.1';

export interface ProsodyUser {
  user: string;
  password: string;
  /** @default the first domain */
  host?: string;
}

export interface ProsodyOptions {
  /** VirtualHosts; the first is `domain`. @default ['localhost', 'other.localhost'] */
  domains?: string[];
  /** `c2s_require_encryption`. @default true */
  requireEncryption?: boolean;
  /** Accounts created before start. @default DEFAULT_USERS */
  users?: ProsodyUser[];
  /** Modules added to the default set. */
  extraModules?: string[];
  /** Lua appended to the global section of the config (before the VirtualHosts). */
  extraConfig?: string;
  /** Minimum level written to the log file. @default 'info' */
  logLevel?: 'debug' | 'info';
  /** Give up starting after this long (per attempt), ms. @default 15000 */
  startTimeoutMs?: number;
  /** SCRAM iteration count for new accounts. @default 4096 */
  iterationCount?: number;
}

export interface ProsodyInstance {
  /** The first VirtualHost ('localhost'). */
  readonly domain: string;
  readonly domains: readonly string[];
  /** Always 127.0.0.1. */
  readonly host: string;
  readonly c2sPort: number;
  readonly httpPort: number;
  /** Prosody's own mod_bosh: `http://127.0.0.1:<httpPort>/http-bind`. */
  readonly boshUrl: string;
  /** PEM of the CA that signed the server certificate. */
  readonly caFile: string;
  readonly caPem: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly dir: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly pid: number;
  readonly users: readonly Required<ProsodyUser>[];
  /** Creates (or re-creates) an account; usable before or after start. */
  register(user: string, password: string, host?: string): Promise<void>;
  /** Resources currently bound for a bare JID (any transport: c2s or BOSH), sorted. */
  onlineResources(bareJid: string): Promise<string[]>;
  /** Full JIDs of every bound session, sorted. */
  fullSessions(): Promise<string[]>;
  /** Runs one admin-shell line (e.g. `c2s:show()` or `>return 1+1`) and returns its output. */
  shell(line: string): Promise<string>;
  /** The last `lines` lines of Prosody's log, for failure messages. */
  logTail(lines?: number): Promise<string>;
  /** SIGTERM by PID, SIGKILL after `timeoutMs`, then removes the temp dir. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

export const DEFAULT_USERS: readonly ProsodyUser[] = [
  { user: 'alice', password: 'alice-pw' },
  { user: 'bob', password: 'bob-pw' },
  { user: 'carol', password: 'carol-pw' },
  { user: 'dave', password: 'dave-pw' },
];

/** Modules for 0.12 (presence, message, iq, offline, c2s are auto-loaded). */
export const DEFAULT_MODULES: readonly string[] = [
  'roster', 'saslauth', 'tls', 'disco', 'ping', 'private', 'pep', 'carbons', 'version', 'time',
  'uptime', 'blocklist', 'vcard_legacy', 'bosh', 'admin_shell',
];

/** True when the `prosody` binary is on PATH (tests can skip otherwise). */
export function prosodyAvailable(): boolean {
  const path = process.env.PATH ?? '';
  if (PROSODY_BIN.includes('/')) return existsSync(PROSODY_BIN);
  return path.split(':').some((d) => d !== '' && existsSync(join(d, PROSODY_BIN)));
}

/**
 * Ports handed to other processes (Prosody, ejabberd, nginx...) are drawn from 20000-32767: below
 * the kernel's ephemeral range (32768-60999), from which any outgoing connection on the machine
 * may take its local port at any moment, between our check and the other process's bind.
 */
const PORT_LOW = 20000;
const PORT_HIGH = 32767;

/** A port below 32768 that was free a moment ago on 127.0.0.1 (a random one, tried up to 100 times). */
export async function getFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW + 1));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${PORT_LOW} and ${PORT_HIGH} on ${LOOPBACK} after 100 tries`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, LOOPBACK, () => srv.close(() => resolve(true)));
  });
}

function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 15_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      } else {
        resolve({ stdout: String(stdout), stderr: String(stderr) });
      }
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function luaString(s: string): string {
  if (!/^[^"\\\r\n]*$/.test(s)) throw new Error(`unsupported characters for a Lua string: ${JSON.stringify(s)}`);
  return `"${s}"`;
}

/** CA + one leaf certificate (EC P-256) whose SANs cover every domain and 127.0.0.1. */
async function makeCertificates(dir: string, domains: readonly string[]): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '7',
    '-subj', '/CN=shared-bosh test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', ...ec, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${domains[0]}`]);
  const sans = [...domains.map((d) => `DNS:${d}`), 'IP:127.0.0.1'].join(',');
  await writeFile(ext, [
    `subjectAltName=${sans}`,
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    '',
  ].join('\n'));
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial',
    '-out', certFile, '-days', '7', '-extfile', ext]);
  return { caFile, certFile, keyFile };
}

interface ConfigInput {
  dir: string;
  domains: readonly string[];
  c2sPort: number;
  httpPort: number;
  requireEncryption: boolean;
  modules: readonly string[];
  extraConfig: string;
  logLevel: string;
  iterationCount: number;
  certFile: string;
  keyFile: string;
}

function renderConfig(c: ConfigInput): string {
  const q = luaString;
  const ssl = `{ certificate = ${q(c.certFile)}; key = ${q(c.keyFile)}; }`;
  return `-- generated by test/support/prosody.ts
data_path = ${q(join(c.dir, 'data'))}
admin_socket = ${q(join(c.dir, 'admin.sock'))}
plugin_paths = {}
run_as_root = true -- only read by prosodyctl (mod_posix is disabled); keeps it from switching user
log = { { levels = { min = ${q(c.logLevel)} }; to = "file"; filename = ${q(join(c.dir, 'prosody.log'))}; } }
interfaces = { "${LOOPBACK}" }
local_interfaces = { "${LOOPBACK}" }
c2s_interfaces = { "${LOOPBACK}" }
c2s_ports = { ${c.c2sPort} }
c2s_direct_tls_ports = {}
legacy_ssl_ports = {}
s2s_ports = {}
http_interfaces = { "${LOOPBACK}" }
http_ports = { ${c.httpPort} }
https_ports = {}
http_default_host = ${q(c.domains[0]!)}
modules_enabled = { ${c.modules.map(q).join(', ')} }
modules_disabled = { "posix", "s2s", "s2s_auth_certs" }
authentication = "internal_hashed"
default_iteration_count = ${c.iterationCount}
storage = "internal"
c2s_require_encryption = ${c.requireEncryption}
allow_unencrypted_plain_auth = false
consider_bosh_secure = true
http_cors_override = { bosh = { enabled = true } }
ssl = ${ssl}
${c.extraConfig}

${c.domains.map((d) => `VirtualHost ${q(d)}\n\tssl = ${ssl}\n`).join('\n')}
`;
}

/** Whether something accepts TCP connections on LOOPBACK:port within `timeoutMs`. */
export async function tcpAccepts(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: LOOPBACK, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

class PortClash extends Error {}

/** Starts a throwaway Prosody; retries with fresh ports if one was taken in between. */
export async function startProsody(opts: ProsodyOptions = {}): Promise<ProsodyInstance> {
  const domains = opts.domains ?? ['localhost', 'other.localhost'];
  if (domains.length === 0) throw new Error('startProsody: no domains');
  const dir = await mkdtemp(join(tmpdir(), 'prosody-test-'));
  try {
    const { caFile, certFile, keyFile } = await makeCertificates(dir, domains);
    const users = (opts.users ?? DEFAULT_USERS).map((u) => ({ ...u, host: u.host ?? domains[0]! }));
    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      const c2sPort = await getFreePort();
      let httpPort = await getFreePort();
      while (httpPort === c2sPort) httpPort = await getFreePort();
      const configFile = join(dir, 'prosody.cfg.lua');
      await writeFile(configFile, renderConfig({
        dir,
        domains,
        c2sPort,
        httpPort,
        requireEncryption: opts.requireEncryption ?? true,
        modules: [...new Set([...DEFAULT_MODULES, ...(opts.extraModules ?? [])])],
        extraConfig: opts.extraConfig ?? '',
        logLevel: opts.logLevel ?? 'info',
        iterationCount: opts.iterationCount ?? 4096,
        certFile,
        keyFile,
      }));
      const register = async (user: string, password: string, host = domains[0]!): Promise<void> => {
        await run(PROSODYCTL_BIN, ['--config', configFile, 'register', user, host, password], { cwd: dir });
      };
      if (attempt === 0) {
        // Sequential: prosodyctl writes the same data dir.
        for (const u of users) await register(u.user, u.password, u.host);
      }
      try {
        return await launch({ dir, domains, c2sPort, httpPort, configFile, caFile, certFile, keyFile, users, register,
          startTimeoutMs: opts.startTimeoutMs ?? 15_000 });
      } catch (err) {
        lastError = err;
        if (!(err instanceof PortClash)) throw err;
        await rm(join(dir, 'prosody.log'), { force: true });
      }
    }
    throw lastError;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

interface LaunchInput {
  dir: string;
  domains: readonly string[];
  c2sPort: number;
  httpPort: number;
  configFile: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  users: Required<ProsodyUser>[];
  register: (user: string, password: string, host?: string) => Promise<void>;
  startTimeoutMs: number;
}

async function launch(p: LaunchInput): Promise<ProsodyInstance> {
  const logFile = join(p.dir, 'prosody.log');
  let output = '';
  const child: ChildProcess = spawn(PROSODY_BIN, ['--config', p.configFile, '-F'], {
    cwd: p.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (b: Buffer): void => {
    output = (output + b.toString('utf8')).slice(-16_384);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  // Last-resort cleanup if the test process exits without calling stop().
  const onExit = (): void => {
    if (exited === undefined && child.pid !== undefined) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    try { rmSync(p.dir, { recursive: true, force: true }); } catch { /* best effort */ }
  };
  process.once('exit', onExit);

  const kill = async (timeoutMs: number): Promise<void> => {
    if (exited === undefined && child.pid !== undefined) {
      try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
      if ((await Promise.race([exitPromise.then(() => 'exited' as const), timer])) === 'timeout' && exited === undefined) {
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
        await Promise.race([exitPromise, sleep(2000)]);
      }
    }
    process.removeListener('exit', onExit);
  };

  const readLog = async (): Promise<string> => {
    try { return await readFile(logFile, 'utf8'); } catch { return ''; }
  };
  const c2sUp = `Activated service 'c2s' on [${LOOPBACK}]:${p.c2sPort}`;
  const httpUp = `Activated service 'http' on [${LOOPBACK}]:${p.httpPort}`;
  const deadline = Date.now() + p.startTimeoutMs;
  try {
    for (;;) {
      const spawnErr = await Promise.race([spawnError, sleep(50).then(() => undefined)]);
      if (spawnErr) throw new Error(`cannot run ${PROSODY_BIN}: ${spawnErr.message}`);
      const log = await readLog();
      if (log.includes('Failed to open server port')) {
        throw new PortClash(`port clash (c2s ${p.c2sPort}, http ${p.httpPort}):\n${log.slice(-2000)}`);
      }
      if (exited) {
        throw new Error(`prosody exited early (${JSON.stringify(exited)}):\n${output}\n${log.slice(-4000)}`);
      }
      if (log.includes(c2sUp) && log.includes(httpUp) && existsSync(join(p.dir, 'admin.sock'))
        && (await tcpAccepts(p.c2sPort)) && (await tcpAccepts(p.httpPort))) {
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(`prosody did not come up within ${p.startTimeoutMs} ms:\n${output}\n${log.slice(-4000)}`);
      }
    }
  } catch (err) {
    await kill(3000);
    throw err;
  }

  const caPem = await readFile(p.caFile, 'utf8');
  let stopped: Promise<void> | undefined;

  const shell = async (line: string): Promise<string> => {
    const { stdout } = await run(PROSODYCTL_BIN, ['--config', p.configFile, 'shell', line], { cwd: p.dir, timeoutMs: 10_000 });
    return stdout;
  };
  const luaJson = async (code: string): Promise<unknown> => {
    const out = await shell(`>${code}`);
    const m = /Result: (.*)$/ms.exec(out.trim());
    if (!m) throw new Error(`unexpected admin shell output: ${out}`);
    return JSON.parse(m[1]!);
  };

  return {
    domain: p.domains[0]!,
    domains: p.domains,
    host: LOOPBACK,
    c2sPort: p.c2sPort,
    httpPort: p.httpPort,
    boshUrl: `http://${LOOPBACK}:${p.httpPort}/http-bind`,
    caFile: p.caFile,
    caPem,
    certFile: p.certFile,
    keyFile: p.keyFile,
    dir: p.dir,
    configFile: p.configFile,
    logFile,
    pid: child.pid!,
    users: p.users,
    register: p.register,
    async onlineResources(bareJid: string): Promise<string[]> {
      const code = `local t = {} local b = prosody.bare_sessions[${luaString(bareJid)}] `
        + 'if b then for r in pairs(b.sessions) do t[#t+1] = r end end table.sort(t) '
        + 'return "\\n"..require"util.json".encode(t)';
      const res = await luaJson(code);
      // util.json encodes an empty table as {}.
      return Array.isArray(res) ? (res as string[]) : [];
    },
    async fullSessions(): Promise<string[]> {
      const code = 'local t = {} for j in pairs(prosody.full_sessions) do t[#t+1] = j end table.sort(t) '
        + 'return "\\n"..require"util.json".encode(t)';
      const res = await luaJson(code);
      return Array.isArray(res) ? (res as string[]) : [];
    },
    shell,
    async logTail(lines = 60): Promise<string> {
      return (await readLog()).split('\n').slice(-lines).join('\n');
    },
    stop(timeoutMs = 5000): Promise<void> {
      stopped ??= (async () => {
        await kill(timeoutMs);
        await rm(p.dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
