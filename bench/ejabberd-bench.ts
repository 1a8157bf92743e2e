/**
 * A throwaway ejabberd (Debian package `ejabberd`, 23.01) for the benchmark: system (c),
 * ejabberd's own mod_bosh. The system service is never used or started.
 *
 * - **Own everything.** A temp dir holds its ejabberd.yml, its mnesia spool dir, its log dir, its
 *   Erlang cookie (`<dir>/.erlang.cookie`, HOME points there) and a fresh node name
 *   (`bench-ej-<random>@127.0.0.1`).
 * - **Started as the current user (root here), in the foreground, without ejabberdctl.**
 *   `ejabberdctl foreground` would switch to the `ejabberd` user through `su` and read the system's
 *   cookie in /var/lib/ejabberd; instead the bench runs what that script runs, directly:
 *   `taskset -c CORE erl -name NODE -start_epmd false -erl_epmd_port DISTPORT
 *   -kernel inet_dist_use_interface {127,0,0,1} +K true +P 250000 +S 1:1 +SDcpu 1:1 -noinput
 *   -mnesia dir "SPOOL" -s ejabberd`, with EJABBERD_CONFIG_PATH, EJABBERD_LOG_PATH and ERL_LIBS as
 *   the ejabberdctl script on PATH sets them. `erl` execs erlexec, which execs beam.smp, so the
 *   spawned PID is the BEAM itself.
 * - **No epmd.** `-start_epmd false -erl_epmd_port PORT` makes the node listen for distribution
 *   on a fixed free loopback port and not register with (or start) epmd; the control clients
 *   connect to that port the same way (`-dist_listen false`).
 * - **One core, one scheduler.** The BEAM starts under `taskset -c CORE` (every thread it creates
 *   inherits that) and is pinned again with `taskset -a -pc CORE PID` once it runs, like Prosody.
 *   `+S 1:1 +SDcpu 1:1`: one normal and one dirty CPU scheduler, as there is one core for it.
 * - **Loopback only**: one `ejabberd_http` listener on 127.0.0.1 with mod_bosh at /http-bind
 *   (backlog 1024: ejabberd's default of 5 would overflow under 50 concurrent logins), the
 *   distribution port on 127.0.0.1, no c2s, s2s or other listeners.
 * - **Accounts** like Prosody's: SCRAM-SHA-1 with 4096 iterations (`auth_password_format: scram`,
 *   ejabberd's default iteration count), all sharing one password. `ejabberdctl register` takes
 *   about half a second per call (a new BEAM each time), so `addUsers` makes one control call that
 *   registers the first user with `ejabberd_auth:try_register/3`, reads back its `passwd` record
 *   (salt, stored and server key) and writes that record for every other user with
 *   `mnesia:dirty_write/1` (10,000 accounts in about 5 s, mostly dets writes).
 * - **Stopped by PID**: SIGTERM to the BEAM (a clean `init:stop()` in OTP 25), SIGKILL after a
 *   timeout, then SIGKILL to any of its helper processes still alive (erl_child_setup, eimp,
 *   inet_gethost, memsup: recorded by PID and start time while it ran, never looked up by name);
 *   then the temp dir is removed. The BEAM and every control node run under
 *   `setpriv --pdeathsig KILL` (util-linux), so that the kernel kills them should the bench itself
 *   die without stopping them; a process 'exit' hook does the same for a plain exit.
 * - **Memory**: `gc()` runs `erlang:garbage_collect/1` on every process of the node, then returns
 *   `erlang:memory()`. The BEAM's allocators keep their carriers, so RSS stays well above what
 *   `erlang:memory(total)` reports (see docs/performance.md).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { getFreePort, tcpAccepts } from '../test/support/prosody.js';
import { pin } from './proc.js';

export const EJABBERD_DOMAIN = 'localhost';

export interface BenchEjabberd {
  pid: number;
  httpPort: number;
  /** mod_bosh over plain HTTP, or over HTTPS with `tlsCertFile`. */
  boshUrl: string;
  /** The plain c2s listener (`c2s: true`), else 0. */
  c2sPort: number;
  domain: string;
  dir: string;
  logFile: string;
  node: string;
  /** Registers accounts (one shared password) with one control call. */
  addUsers(users: readonly string[], password: string): Promise<void>;
  /** `erlang:garbage_collect/1` on every Erlang process of the node, before memory readings; then `erlang:memory()`. */
  gc(): Promise<BeamMemory>;
  /** Sessions (any transport) of users whose name starts with `prefix`, from `ejabberd_sm`. */
  sessionsOf(prefix: string): Promise<number>;
  /** SIGTERM by PID (SIGKILL after timeoutMs), its helpers by PID, then removes the temp dir. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Parts of `erlang:memory()` in bytes: what the BEAM has allocated, as opposed to its RSS. */
export interface BeamMemory {
  total: number;
  processes: number;
  ets: number;
  binary: number;
  system: number;
}

/**
 * `setpriv --pdeathsig KILL` in front of a command when util-linux's setpriv is there: the
 * kernel kills the BEAM (and a control node) if the bench dies without stopping it (an uncaught
 * exception skips 'exit' handlers). The flag survives the execs of taskset, erl and erlexec.
 */
function deathsig(): string[] {
  return onPath('setpriv') ? ['setpriv', '--pdeathsig', 'KILL'] : [];
}

function onPath(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (d !== '' && existsSync(join(d, cmd))) return join(d, cmd);
  }
  return undefined;
}

/** Where `erl` and ejabberd's code are, as the ejabberdctl script on PATH says. */
export interface EjabberdInstall {
  ejabberdctl: string;
  erl: string;
  erlLibs: string;
}

export function ejabberdInstall(): EjabberdInstall | undefined {
  const ctl = onPath('ejabberdctl');
  if (!ctl) return undefined;
  let script = '';
  try { script = readFileSync(ctl, 'utf8'); } catch { return undefined; }
  const erl = /^ERL="([^"]+)"/m.exec(script)?.[1] ?? onPath('erl');
  const erlLibs = /^ERL_LIBS='([^']+)'/m.exec(script)?.[1] ?? /^ERL_LIBS="([^"]+)"/m.exec(script)?.[1];
  if (!erl || !existsSync(erl) || !erlLibs) return undefined;
  return { ejabberdctl: ctl, erl, erlLibs };
}

/** `ejabberd 23.01-1 (Debian package), Erlang/OTP 25 (erlang-base 1:25.2.3+dfsg-1+deb12u4)`. */
export function ejabberdVersion(): string {
  const dpkg = (pkg: string): string | undefined => {
    try {
      return execFileSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const ej = dpkg('ejabberd');
  const otp = dpkg('erlang-base');
  return `${ej ? `ejabberd ${ej} (Debian package)` : 'ejabberd (version unknown)'}${otp ? `, Erlang/OTP ${otp.replace(/^\d+:/, '').split('.')[0]} (erlang-base ${otp})` : ''}`;
}

function renderConfig(o: { httpPort: number; c2sPort: number; tlsCertFile?: string; domain: string; logLevel: string }): string {
  return `# generated by bench/ejabberd-bench.ts
loglevel: ${o.logLevel}
log_rotate_count: 0
hosts:
  - "${o.domain}"
${o.tlsCertFile ? `certfiles:\n  - "${o.tlsCertFile}"\n` : ''}listen:
  -
    port: ${o.httpPort}
    ip: "127.0.0.1"
    module: ejabberd_http
    backlog: 1024
${o.tlsCertFile ? '    tls: true\n' : ''}    request_handlers:
      /http-bind: mod_bosh
${o.c2sPort > 0 ? `  -
    port: ${o.c2sPort}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: 1024
    starttls: false
` : ''}auth_method: internal
auth_password_format: scram
auth_scram_hash: sha
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
shaper_rules:
  max_user_sessions: 100
modules:
  mod_bosh: {}
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_private: {}
  mod_caps: {}
  mod_pubsub:
    plugins:
      - flat
      - pep
  mod_carboncopy: {}
  mod_version: {}
  mod_time: {}
  mod_last: {}
  mod_privacy: {}
  mod_blocking: {}
  mod_vcard: {}
  mod_offline: {}
`;
}

/** PID and start time (field 22 of /proc/PID/stat) of every descendant of `pid`. */
function descendants(pid: number): Map<number, string> {
  const parent = new Map<number, number>();
  const start = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(name), Number(rest[1]));
      start.set(Number(name), rest[19]!);
    } catch { /* gone */ }
  }
  const out = new Map<number, string>();
  let frontier = [pid];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const [child, ppid] of parent) {
      if (frontier.includes(ppid) && !out.has(child)) {
        out.set(child, start.get(child)!);
        next.push(child);
      }
    }
    frontier = next;
  }
  return out;
}

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function comm(pid: number): string {
  try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class PortClash extends Error {}

export interface EjabberdOptions {
  /** @default 'info' (Prosody logs at info too) */
  logLevel?: string;
  /** Per attempt, ms. @default 30000 */
  startTimeoutMs?: number;
  /** More `erl` arguments (experiments, e.g. `+sbwt none`), appended before `-s ejabberd`. */
  extraErlArgs?: string[];
  /** Also a plain c2s listener on loopback (senders of bench/tabs.ts). */
  c2s?: boolean;
  /** mod_bosh over HTTPS with this PEM file (certificate and key). */
  tlsCertFile?: string;
}

export async function startBenchEjabberd(core: number, opts: EjabberdOptions = {}): Promise<BenchEjabberd> {
  const install = ejabberdInstall();
  if (!install) throw new Error('ejabberd is not installed (no ejabberdctl with ERL and ERL_LIBS on PATH)');
  const dir = mkdtempSync(join(tmpdir(), 'ejabberd-bench-'));
  try {
    const cookie = randomBytes(18).toString('hex');
    writeFileSync(join(dir, '.erlang.cookie'), cookie);
    chmodSync(join(dir, '.erlang.cookie'), 0o400);
    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        return await launch(install, dir, core, opts);
      } catch (err) {
        lastError = err;
        if (!(err instanceof PortClash)) throw err;
      }
    }
    throw lastError;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launch(install: EjabberdInstall, dir: string, core: number, opts: EjabberdOptions): Promise<BenchEjabberd> {
  const httpPort = await getFreePort();
  let distPort = await getFreePort();
  while (distPort === httpPort) distPort = await getFreePort();
  let c2sPort = 0;
  if (opts.c2s) {
    c2sPort = await getFreePort();
    while (c2sPort === httpPort || c2sPort === distPort) c2sPort = await getFreePort();
  }
  const node = `bench-ej-${randomBytes(4).toString('hex')}@127.0.0.1`;
  const spool = join(dir, 'spool');
  const logs = join(dir, 'logs');
  rmSync(spool, { recursive: true, force: true });
  rmSync(logs, { recursive: true, force: true });
  mkdirSync(spool, { recursive: true });
  mkdirSync(logs, { recursive: true });
  const configFile = join(dir, 'ejabberd.yml');
  writeFileSync(configFile, renderConfig({ httpPort, c2sPort, tlsCertFile: opts.tlsCertFile, domain: EJABBERD_DOMAIN, logLevel: opts.logLevel ?? 'info' }));
  const logFile = join(logs, 'ejabberd.log');
  const outFile = join(logs, 'stdout.log');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    EJABBERD_CONFIG_PATH: configFile,
    EJABBERD_LOG_PATH: logFile,
    ERL_LIBS: install.erlLibs,
    ERL_CRASH_DUMP: join(logs, 'erl_crash.dump'),
    ERL_CRASH_DUMP_BYTES: '0',
    ERL_MAX_PORTS: '32000',
    ERL_MAX_ETS_TABLES: '1400',
    CONTRIB_MODULES_PATH: join(dir, 'contrib'),
  };
  // The same flags as `ejabberdctl foreground` (ERLANG_OPTS, EJABBERD_OPTS), plus one scheduler
  // and distribution without epmd on a loopback port.
  const args = [
    '-c', String(core), install.erl,
    '-name', node,
    '-start_epmd', 'false', '-erl_epmd_port', String(distPort),
    '-kernel', 'inet_dist_use_interface', '{127,0,0,1}',
    '+K', 'true', '+P', '250000', '+S', '1:1', '+SDcpu', '1:1',
    '-noinput',
    '-mnesia', 'dir', `"${spool}"`,
    ...(opts.extraErlArgs ?? []),
    '-s', 'ejabberd',
  ];
  const fd = openSync(outFile, 'a');
  const wrap = deathsig();
  const child: ChildProcess = spawn(wrap[0] ?? 'taskset', [...wrap.slice(1), ...(wrap.length > 0 ? ['taskset'] : []), ...args], { cwd: dir, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  let spawnError: Error | undefined;
  child.once('error', (e) => { spawnError = e; });
  const pid = child.pid!;
  /** The BEAM's helper processes (PID -> start time), refreshed while it runs. */
  const helpers = new Map<number, string>();
  const recordHelpers = (): void => {
    if (exited) return;
    for (const [p, t] of descendants(pid)) helpers.set(p, t);
  };
  const killHelpers = (): void => {
    for (const [p, t] of helpers) {
      if (startTime(p) === t) {
        try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
      }
    }
  };
  // Last resort if the bench exits without stop().
  const onExit = (): void => {
    if (exited === undefined) {
      recordHelpers();
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    killHelpers();
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
  };
  process.once('exit', onExit);

  const kill = async (timeoutMs: number): Promise<void> => {
    recordHelpers();
    if (exited === undefined) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
      if ((await Promise.race([exitPromise.then(() => 'exited' as const), timer])) === 'timeout' && exited === undefined) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        await Promise.race([exitPromise, sleep(2000)]);
      }
    }
    // Helpers exit when the BEAM's pipes close; give them a moment, then make sure.
    for (let i = 0; i < 20 && [...helpers].some(([p, t]) => startTime(p) === t); i++) await sleep(50);
    killHelpers();
    process.removeListener('exit', onExit);
  };

  const readText = async (f: string): Promise<string> => {
    try { return await readFile(f, 'utf8'); } catch { return ''; }
  };
  const started = ' is started in the node ';
  const listening = new RegExp(`Start accepting (TCP|TLS) connections at 127\\.0\\.0\\.1:${httpPort} for ejabberd_http`);
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  try {
    for (;;) {
      await sleep(100);
      if (spawnError) throw new Error(`cannot run taskset ${install.erl}: ${spawnError.message}`);
      const log = await readText(logFile);
      const out = await readText(outFile);
      if (/eaddrinuse/i.test(log) || /eaddrinuse/i.test(out)) {
        throw new PortClash(`port clash (http ${httpPort}, distribution ${distPort})`);
      }
      if (exited) throw new Error(`ejabberd exited early (${JSON.stringify(exited)}):\n${out.slice(-3000)}\n${log.slice(-3000)}`);
      if (log.includes(started) && listening.test(log) && comm(pid) === 'beam.smp' && (await tcpAccepts(httpPort))
        && (c2sPort === 0 || (await tcpAccepts(c2sPort)))) break;
      if (Date.now() > deadline) throw new Error(`ejabberd did not come up within ${opts.startTimeoutMs ?? 30_000} ms:\n${out.slice(-3000)}\n${log.slice(-3000)}`);
    }
    // Every thread of the BEAM on the server core (it started there; this makes sure).
    pin(pid, core);
    recordHelpers();
  } catch (err) {
    await kill(3000);
    throw err;
  }

  /** Runs Erlang expressions in a hidden control node connected to this one; returns what they print. */
  const control = (code: string, timeoutMs = 120_000): Promise<string> => new Promise((resolve, reject) => {
    const ctl = `bench-ctl-${randomBytes(4).toString('hex')}@127.0.0.1`;
    const wrapped = `N = '${node}', try ${code} of _ -> halt(0) catch C:E:S -> io:format("control failed: ~p:~p ~p~n", [C, E, S]), halt(1) end.`;
    const wrap = deathsig();
    execFile(wrap[0] ?? install.erl, [...wrap.slice(1), ...(wrap.length > 0 ? [install.erl] : []), '-name', ctl, '-hidden', '-noinput', '-start_epmd', 'false', '-erl_epmd_port', String(distPort), '-dist_listen', 'false', '-eval', wrapped],
      { cwd: dir, env: { ...process.env, HOME: dir, ERL_CRASH_DUMP_BYTES: '0' }, timeout: timeoutMs, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`ejabberd control call failed: ${err.message}\n${String(stdout)}\n${String(stderr)}`));
        else resolve(String(stdout));
      });
  });

  let stopped: Promise<void> | undefined;
  let usersSeq = 0;
  return {
    pid,
    httpPort,
    boshUrl: `${opts.tlsCertFile ? 'https' : 'http'}://127.0.0.1:${httpPort}/http-bind`,
    c2sPort,
    domain: EJABBERD_DOMAIN,
    dir,
    logFile,
    node,
    async addUsers(users, password) {
      if (users.length === 0) return;
      if (!/^[A-Za-z0-9._-]+$/.test(password)) throw new Error('bench password: letters, digits, . _ - only');
      for (const u of users) if (!/^[a-z0-9._-]+$/.test(u)) throw new Error(`bench user name not supported: ${u}`);
      const file = join(dir, `users-${++usersSeq}.txt`);
      writeFileSync(file, `${users.join('\n')}\n`);
      const out = await control([
        `H = <<"${EJABBERD_DOMAIN}">>`,
        `{ok, Bin} = file:read_file("${file}")`,
        '[First | Rest] = binary:split(Bin, <<"\\n">>, [global, trim_all])',
        `ok = rpc:call(N, ejabberd_auth, try_register, [First, H, <<"${password}">>])`,
        '[Rec] = rpc:call(N, mnesia, dirty_read, [passwd, {First, H}])',
        'ok = rpc:call(N, lists, foreach, [fun mnesia:dirty_write/1, [setelement(2, Rec, {U, H}) || U <- Rest]], 300000)',
        'io:format("users ~p~n", [rpc:call(N, mnesia, table_info, [passwd, size])])',
      ].join(', '), 330_000);
      const n = Number(/users (\d+)/.exec(out)?.[1]);
      if (!(n >= users.length)) throw new Error(`ejabberd: expected ${users.length} accounts, the passwd table has ${out.trim()}`);
    },
    async gc() {
      const out = await control('Ps = rpc:call(N, erlang, processes, []), ok = rpc:call(N, lists, foreach, [fun erlang:garbage_collect/1, Ps], 60000), '
        + 'M = rpc:call(N, erlang, memory, []), '
        + 'io:format("memory ~w ~w ~w ~w ~w~n", [proplists:get_value(K, M) || K <- [total, processes, ets, binary, system]])', 90_000);
      const m = /memory (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
      if (!m) throw new Error(`ejabberd gc: unexpected output ${out.trim()}`);
      const [total, processes, ets, binary, system] = m.slice(1).map(Number) as [number, number, number, number, number];
      return { total, processes, ets, binary, system };
    },
    async sessionsOf(prefix) {
      if (!/^[a-z0-9._-]+$/.test(prefix)) throw new Error(`bench user prefix not supported: ${prefix}`);
      const out = await control(`L = rpc:call(N, ejabberd_sm, dirty_get_sessions_list, []), `
        + `io:format("sessions ~p~n", [length([U || {U, _, _} <- L, binary:longest_common_prefix([U, <<"${prefix}">>]) =:= ${prefix.length}])])`);
      const m = /sessions (\d+)/.exec(out);
      if (!m) throw new Error(`ejabberd sessions: unexpected output ${out.trim()}`);
      return Number(m[1]);
    },
    stop(timeoutMs = 10_000): Promise<void> {
      stopped ??= (async () => {
        await kill(timeoutMs);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
