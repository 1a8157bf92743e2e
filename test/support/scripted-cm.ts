import { createConnectionManager, type ConnectionManager } from '../../src/cm.js';
import { DEFAULT_CONFIG, type CmConfig } from '../../src/config.js';
import type { Logger } from '../../src/log.js';
import type { TlsPolicy } from '../../src/xmpp/types.js';
import type { ScriptedXmppServer } from './scripted-xmpp-server.js';

export interface ScriptedCmOptions {
  /** STARTTLS towards the scripted server. @default 'required' */
  tls?: TlsPolicy;
  http?: Partial<CmConfig['http']>;
  upstream?: Partial<CmConfig['upstream']>;
  logger: Logger;
}

/**
 * The whole CM on a free loopback port in front of a scripted XMPP server, with the settings
 * every integration test shares (no creation rate limit); `opts` adds the test's own.
 */
export async function startScriptedCm(server: ScriptedXmppServer, opts: ScriptedCmOptions): Promise<{ cm: ConnectionManager; url: string }> {
  const config: CmConfig = {
    ...DEFAULT_CONFIG,
    http: { ...DEFAULT_CONFIG.http, port: 0, ...opts.http },
    domains: { [server.domain]: await server.domainConfig(opts.tls ?? 'required') },
    bosh: { ...DEFAULT_CONFIG.bosh, creationsPerMinute: 0 },
    upstream: { ...DEFAULT_CONFIG.upstream, ...opts.upstream },
  };
  const cm = createConnectionManager(config, { logger: opts.logger });
  return { cm, url: (await cm.start()).url };
}
