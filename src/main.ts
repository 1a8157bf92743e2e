#!/usr/bin/env -S node --single-threaded-gc
/**
 * The `shared-bosh` command: load the configuration (defaults < YAML file < SHARED_BOSH_* < flags),
 * start the connection manager, say what it listens on and where it connects, and stop it
 * cleanly on SIGTERM/SIGINT (D20: every session ends with system-shutdown).
 *
 * After start it checks every served domain's XMPP server once (src/check.ts) and prints a line
 * for each, then keeps checking for the readiness probe. `shared-bosh check [options]` runs only
 * that check and exits.
 *
 * Exit codes: 0 after a clean stop, --help or --version, or when every check passed; 1 when it
 * cannot start, on a second signal, or when a check failed; 2 for a bad flag, variable, config
 * file or value.
 */
import { readFileSync } from 'node:fs';
import { checkUpstreams } from './check.js';
import { systemClock } from './clock.js';
import { createConnectionManager } from './cm.js';
import type { CmConfig } from './config.js';
import { ConfigError, describeDomain, helpText, loadConfig, parseFlags, type LoadedConfig } from './config-load.js';
import { createLogger } from './log.js';
import { NODE_FLAGS, runsWithNodeFlags } from './node-flags.js';

const NAME = 'shared-bosh';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function fail(message: string, code: number): never {
  process.stderr.write(`${NAME}: ${message}\n`);
  process.exit(code);
}

/** The `listen` failure (BOSH or metrics listener) in words, with the setting that fixes it (no stack trace). */
function listenFailure(err: unknown, config: CmConfig): string {
  const code = (err as { cause?: { code?: unknown } }).cause?.code;
  const metrics = (err as Error).message.startsWith('cannot listen for metrics');
  const where = metrics
    ? `cannot listen for metrics on ${config.metrics.host}:${config.metrics.port}`
    : `cannot listen on ${config.http.host}:${config.http.port}`;
  const port = metrics ? 'metrics.port (SHARED_BOSH_METRICS_PORT)' : '--port PORT (http.port, SHARED_BOSH_PORT)';
  const host = metrics ? 'metrics.host (SHARED_BOSH_METRICS_HOST)' : '--host ADDR (http.host, SHARED_BOSH_HOST)';
  switch (code) {
    case 'EADDRINUSE':
      return `${where}: the port is in use (another shared-bosh still running?); choose another with ${port}`;
    case 'EACCES':
      return `${where}: permission denied; ports below 1024 need CAP_NET_BIND_SERVICE: use a port >= 1024 (${port}) behind a reverse proxy`;
    case 'EADDRNOTAVAIL':
      return `${where}: no such address on this machine; choose one with ${host}`;
    default:
      return (err as Error).message;
  }
}

/** `shared-bosh check`: one line per served domain on stdout; exit 0 when all passed, else 1. */
async function check(config: CmConfig): Promise<void> {
  const results = await checkUpstreams(config, { logger: createLogger('silent'), clock: systemClock });
  for (const result of results) process.stdout.write(`${result.line}\n`);
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const command = argv[0] === 'check' ? 'check' : 'run';
  if (command === 'check') argv = argv.slice(1);
  let loaded: LoadedConfig;
  try {
    const flags = parseFlags(argv);
    if (flags.help) {
      process.stdout.write(helpText());
      return;
    }
    if (flags.version) {
      process.stdout.write(`${NAME} ${version()}\n`);
      return;
    }
    loaded = loadConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }

  const { config, configFile, warnings } = loaded;
  if (command === 'check') {
    for (const warning of warnings) process.stderr.write(`${NAME}: warning: ${warning}\n`);
    return check(config);
  }
  const logger = createLogger(config.logLevel);
  for (const warning of warnings) {
    process.stderr.write(`${NAME}: warning: ${warning}\n`);
    logger.warn({ configFile }, warning);
  }

  const cm = createConnectionManager(config, { logger });
  let address: { url: string; host: string; port: number; metricsUrl?: string };
  try {
    address = await cm.start();
  } catch (err) {
    const message = listenFailure(err, config);
    logger.fatal({ host: config.http.host, port: config.http.port, code: (err as { cause?: { code?: unknown } }).cause?.code }, `could not start: ${message}`);
    logger.flush();
    fail(message, 1);
  }

  const upstreams = Object.entries(config.domains).map(([name, domain]) => describeDomain(name, domain));
  process.stderr.write(
    `${NAME} ${version()} listening on ${address.url}${configFile ? ` (config ${configFile})` : ''}\n` +
      upstreams.map((line) => `  ${line}\n`).join('') +
      (address.metricsUrl ? `  metrics on ${address.metricsUrl}\n` : ''),
  );
  const nodeFlags = runsWithNodeFlags();
  if (!nodeFlags) process.stderr.write(`  note: node was started without ${NODE_FLAGS.join(' ')} (see docs/operations.md, "Garbage collection")\n`);
  logger.info({ url: address.url, configFile, upstreams, version: version(), nodeFlags: nodeFlags ? NODE_FLAGS.join(' ') : 'none' }, 'started');
  // The first lines go out now rather than with the next buffer (log.ts, LOG_FLUSH_MS).
  logger.flush();
  // A wrong upstream shows now rather than at the first login; the CM serves either way.
  void cm.monitorUpstreams().then((results) => {
    if (stopping) return;
    process.stderr.write(results.map((r) => `  check: ${r.line}\n`).join(''));
    logger.flush();
  });

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`${NAME}: ${signal} again; exiting without waiting\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`${NAME}: ${signal}: stopping (sessions end with system-shutdown)\n`);
    logger.info({ signal }, 'stopping');
    cm.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main(process.argv.slice(2), process.env).catch((err: unknown) => {
  process.stderr.write(`${NAME}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
