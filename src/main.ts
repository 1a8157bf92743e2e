#!/usr/bin/env node
/**
 * The `shared-bosh` command: load the configuration (defaults < YAML file < SHARED_BOSH_* < flags),
 * start the connection manager, say what it listens on and where it connects, and stop it
 * cleanly on SIGTERM/SIGINT (D20: every session ends with system-shutdown).
 *
 * Exit codes: 0 after a clean stop, --help or --version; 1 when it cannot start or on a second
 * signal; 2 for a bad flag, variable, config file or value.
 */
import { readFileSync } from 'node:fs';
import { createConnectionManager } from './cm.js';
import { ConfigError, describeDomain, helpText, loadConfig, parseFlags, type LoadedConfig } from './config-load.js';
import { createLogger } from './log.js';

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

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
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
    logger.fatal({ err }, 'could not start');
    fail((err as Error).message, 1);
  }

  const upstreams = Object.entries(config.domains).map(([name, domain]) => describeDomain(name, domain));
  process.stderr.write(
    `${NAME} ${version()} listening on ${address.url}${configFile ? ` (config ${configFile})` : ''}\n` +
      upstreams.map((line) => `  ${line}\n`).join('') +
      (address.metricsUrl ? `  metrics on ${address.metricsUrl}\n` : ''),
  );
  logger.info({ url: address.url, configFile, upstreams, version: version() }, 'started');
  // The first lines go out now rather than with the next buffer (log.ts, LOG_FLUSH_MS).
  logger.flush();

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
