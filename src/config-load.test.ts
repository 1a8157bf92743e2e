import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestCertificate } from '../test/support/certs.js';
import { DEFAULT_CONFIG } from './config.js';
import { ConfigError, describeDomain, helpText, loadConfig, OPTIONS, DOMAIN_OPTIONS } from './config-load.js';

const dir = mkdtempSync(join(tmpdir(), 'shared-bosh-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
/** Writes a YAML file and returns its path. */
function yamlFile(text: string): string {
  const path = join(dir, `config-${++files}.yaml`);
  writeFileSync(path, text);
  return path;
}
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
/** A real certificate and key for http.tls (they are loaded at config time), and a key of another one. */
const tlsCert = join(dir, 'server.crt');
const tlsKey = join(dir, 'server.key');
const tlsCa = join(dir, 'chain.pem');
const otherKey = join(dir, 'other.key');
{
  const pem = await createTestCertificate(['localhost']);
  const other = await createTestCertificate(['other.example']);
  writeFileSync(tlsCert, pem.cert);
  writeFileSync(tlsKey, pem.key);
  writeFileSync(tlsCa, pem.ca);
  writeFileSync(otherKey, other.key);
}

function errorOf(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfig(argv, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail(`no error for ${JSON.stringify(argv)} ${JSON.stringify(env)}`);
}

test('no file, variables or flags: DEFAULT_CONFIG', () => {
  const { config, configFile, warnings } = loadConfig([], {});
  assert.deepEqual(config, DEFAULT_CONFIG);
  assert.equal(configFile, undefined);
  assert.deepEqual(warnings, []);
});

test('precedence: defaults < config file < environment < flags', () => {
  const file = yamlFile('http:\n  port: 6000\n  path: /bosh\n');
  const table: Array<[string[], NodeJS.ProcessEnv, number, string]> = [
    [[], {}, 5280, '/http-bind'],
    [['--config', file], {}, 6000, '/bosh'],
    [[], { SHARED_BOSH_CONFIG: file }, 6000, '/bosh'],
    [['--config', file], { SHARED_BOSH_PORT: '7000' }, 7000, '/bosh'],
    [['--config', file, '--port', '8000'], { SHARED_BOSH_PORT: '7000' }, 8000, '/bosh'],
    [['--port', '8000'], { SHARED_BOSH_PORT: '7000', SHARED_BOSH_PATH: '/env' }, 8000, '/env'],
    [['--path', '/flag'], { SHARED_BOSH_CONFIG: file, SHARED_BOSH_PATH: '/env' }, 6000, '/flag'],
    [[], { SHARED_BOSH_PORT: '' }, 5280, '/http-bind'],
    [[], { SHARED_BOSH_PORT: ' 9000 ' }, 9000, '/http-bind'],
  ];
  for (const [argv, env, port, path] of table) {
    const { config } = loadConfig(argv, env);
    assert.equal(config.http.port, port, JSON.stringify([argv, env]));
    assert.equal(config.http.path, path, JSON.stringify([argv, env]));
    assert.equal(config.http.host, '127.0.0.1', 'untouched keys keep their defaults');
    assert.equal(config.http.maxBodyBytes, DEFAULT_CONFIG.http.maxBodyBytes);
  }
});

test('--config wins over SHARED_BOSH_CONFIG, and the path is reported absolute', () => {
  const a = yamlFile('http: { port: 1111 }\n');
  const b = yamlFile('http: { port: 2222 }\n');
  const loaded = loadConfig(['--config', b], { SHARED_BOSH_CONFIG: a });
  assert.equal(loaded.config.http.port, 2222);
  assert.equal(loaded.configFile, b);
});

test('every key can be set by its environment variable', () => {
  // The http.tls files need each other: the extra variables of a row are set with it.
  const table: Array<[string, string, unknown, NodeJS.ProcessEnv?]> = [
    ['SHARED_BOSH_HOST', '0.0.0.0', '0.0.0.0'],
    ['SHARED_BOSH_MAX_BODY_BYTES', '4096', 4096],
    ['SHARED_BOSH_COMPRESS_MIN_BYTES', '0', 0],
    ['SHARED_BOSH_TRUST_PROXY', 'yes', true],
    ['SHARED_BOSH_METRICS_PATH', '/stats', '/stats'],
    ['SHARED_BOSH_HEALTH_PATH', '/live', '/live'],
    ['SHARED_BOSH_READY_PATH', '/ready', '/ready'],
    ['SHARED_BOSH_TLS_CERT_FILE', tlsCert, tlsCert, { SHARED_BOSH_TLS_KEY_FILE: tlsKey }],
    ['SHARED_BOSH_TLS_KEY_FILE', tlsKey, tlsKey, { SHARED_BOSH_TLS_CERT_FILE: tlsCert }],
    ['SHARED_BOSH_TLS_CA_FILE', tlsCa, tlsCa, { SHARED_BOSH_TLS_CERT_FILE: tlsCert, SHARED_BOSH_TLS_KEY_FILE: tlsKey }],
    ['SHARED_BOSH_HTTP2', 'false', false],
    ['SHARED_BOSH_MAX_CONNECTIONS', '5000', 5000],
    ['SHARED_BOSH_MAX_OPEN_FILES', '65536', 65536],
    ['SHARED_BOSH_RESERVED_FILES', '50', 50],
    ['SHARED_BOSH_MAX_CONNECTIONS_PER_ADDRESS', '0', 0],
    ['SHARED_BOSH_MAX_REQUESTS_PER_ADDRESS', '64', 64],
    ['SHARED_BOSH_HEADERS_TIMEOUT_S', '5', 5],
    ['SHARED_BOSH_REQUEST_TIMEOUT_S', '20', 20],
    ['SHARED_BOSH_IDLE_TIMEOUT_S', '0', 0],
    ['SHARED_BOSH_METRICS_HOST', '::1', '::1'],
    ['SHARED_BOSH_METRICS_PORT', '9464', 9464],
    ['SHARED_BOSH_METRICS_ALLOW', '10.0.0.0/8, ::1', ['10.0.0.0/8', '::1']],
    ['SHARED_BOSH_CORS_ORIGINS', 'https://a.example, HTTPS://B.example:443/', ['https://a.example', 'https://b.example']],
    ['SHARED_BOSH_CORS_MAX_AGE_S', '60', 60],
    ['SHARED_BOSH_ALLOWED_ROUTES', 'xmpp.example:5222,[::1]:5223', ['xmpp.example:5222', '::1:5223']],
    ['SHARED_BOSH_MAX_WAIT_S', '30', 30],
    ['SHARED_BOSH_MAX_HOLD', '2', 2],
    ['SHARED_BOSH_INACTIVITY_S', '90', 90],
    ['SHARED_BOSH_POLLING_S', '1', 1],
    ['SHARED_BOSH_POLLING_VIOLATIONS', '0', 0],
    ['SHARED_BOSH_POLLING_WINDOW_S', '30', 30],
    ['SHARED_BOSH_MAX_PAUSE_S', '300', 300],
    ['SHARED_BOSH_MAX_SESSIONS', '5', 5],
    ['SHARED_BOSH_MAX_QUEUE_BYTES', '2048', 2048],
    ['SHARED_BOSH_CREATIONS_PER_MINUTE', '0', 0],
    ['SHARED_BOSH_CREATION_BURST', '3', 3],
    ['SHARED_BOSH_MAX_DEPTH', '32', 32],
    ['SHARED_BOSH_SHARED_MAX_MEMBERS', '4', 4],
    ['SHARED_BOSH_SHARED_ATTACH_ORIGINS', '*', ['*']],
    ['SHARED_BOSH_SHARED_REPLAY_EVENTS', '10', 10],
    ['SHARED_BOSH_SHARED_REPLAY_S', '10', 10],
    ['SHARED_BOSH_CONNECT_TIMEOUT_MS', '500', 500],
    ['SHARED_BOSH_CHECK_INTERVAL_S', '0', 0],
    ['SHARED_BOSH_MAX_STANZA_BYTES', '65536', 65536],
    ['SHARED_BOSH_UPSTREAM_MAX_DEPTH', '100', 100],
    ['SHARED_BOSH_UPSTREAM_PING_INTERVAL_S', '0', 0],
    ['SHARED_BOSH_UPSTREAM_PING_TIMEOUT_S', '5', 5],
    ['SHARED_BOSH_LOG_LEVEL', 'debug', 'debug'],
  ];
  for (const [name, value, expected, others] of table) {
    const spec = OPTIONS.find((o) => o.env === name);
    assert.ok(spec, name);
    const { config } = loadConfig([], { ...others, [name]: value });
    let node: unknown = config;
    for (const part of spec.key.split('.')) node = (node as Record<string, unknown>)[part];
    assert.deepEqual(node, expected, name);
  }
  assert.equal(table.length + 2, OPTIONS.length, 'PORT and PATH are covered by the precedence test');
});

test('flags: lists repeat, booleans need no value', () => {
  const { config } = loadConfig(['--cors-origin', 'https://a.example', '--cors-origin', 'https://b.example,https://c.example', '--trust-proxy', '--log-level', 'warn', '--host', '::'], {});
  assert.deepEqual(config.cors.origins, ['https://a.example', 'https://b.example', 'https://c.example']);
  assert.equal(config.http.trustProxy, true);
  assert.equal(config.logLevel, 'warn');
  assert.equal(config.http.host, '::');
});

test('domains: a file replaces the default; --domain chooses, keeping file settings; shorthands set every domain', () => {
  const file = yamlFile(
    [
      'domains:',
      '  example.com:',
      '    host: xmpp.example.com',
      '    port: 5223',
      '    caFile: ca.pem',
      '  Other.Example:',
      '  plain.example: { tls: off, host: 127.0.0.1 }',
    ].join('\n'),
  );
  const fromFile = loadConfig(['--config', file], {}).config.domains;
  assert.deepEqual(fromFile, {
    'example.com': { host: 'xmpp.example.com', port: 5223, caFile, tls: 'required', insecure: false },
    'other.example': { tls: 'required', insecure: false },
    'plain.example': { host: '127.0.0.1', tls: 'off', insecure: false },
  });

  const chosen = loadConfig(['--config', file, '--domain', 'example.com', '--domain', 'new.example'], {}).config.domains;
  assert.deepEqual(Object.keys(chosen), ['example.com', 'new.example']);
  assert.equal(chosen['example.com']!.host, 'xmpp.example.com');
  assert.deepEqual(chosen['new.example'], { tls: 'required', insecure: false });

  const shorthands = loadConfig(
    ['--domain', 'a.example', '--upstream-host', '127.0.0.1', '--upstream-port', '15222', '--tls', 'optional', '--ca-file', caFile],
    { SHARED_BOSH_DOMAINS: 'ignored.example', SHARED_BOSH_UPSTREAM_HOST: 'env.example' },
  ).config.domains;
  assert.deepEqual(shorthands, { 'a.example': { host: '127.0.0.1', port: 15222, tls: 'optional', caFile, insecure: false } });

  const env = loadConfig([], { SHARED_BOSH_DOMAINS: 'a.example, b.example', SHARED_BOSH_INSECURE: 'true', SHARED_BOSH_TLS: 'required' }).config.domains;
  assert.deepEqual(env, { 'a.example': { tls: 'required', insecure: true }, 'b.example': { tls: 'required', insecure: true } });

  const defaultDomain = loadConfig(['--upstream-host', 'localhost', '--tls', 'off'], {}).config.domains;
  assert.deepEqual(defaultDomain, { localhost: { host: 'localhost', tls: 'off', insecure: false } });
});

test('a file deep-merges into the defaults; lists are replaced', () => {
  const file = yamlFile('bosh:\n  maxWaitS: 30\ncors:\n  origins: [https://app.example]\nshared:\n  attachOrigins: null\n');
  const { config } = loadConfig(['--config', file], {});
  assert.equal(config.bosh.maxWaitS, 30);
  assert.equal(config.bosh.maxHold, DEFAULT_CONFIG.bosh.maxHold);
  assert.deepEqual(config.cors, { origins: ['https://app.example'], maxAgeS: DEFAULT_CONFIG.cors.maxAgeS });
  assert.equal(config.shared.attachOrigins, null);
  assert.deepEqual(loadConfig(['--config', yamlFile('# nothing yet\n')], {}).config, DEFAULT_CONFIG);
});

test('every bad value names the key, the value and where it came from', () => {
  const table: Array<[string[], NodeJS.ProcessEnv, string | RegExp]> = [
    [['--port', 'abc'], {}, 'http.port: must be an integer 0..65535, got "abc" (from --port)'],
    [[], { SHARED_BOSH_PORT: '70000' }, 'http.port: must be an integer 0..65535, got 70000 (from SHARED_BOSH_PORT)'],
    [['--port', '1.5'], {}, 'http.port: must be an integer 0..65535, got "1.5" (from --port)'],
    [['--port=-1'], {}, 'http.port: must be an integer 0..65535, got -1 (from --port)'],
    [['--host', ''], {}, 'http.host: must not be empty, got "" (from --host)'],
    [['--path', 'http-bind'], {}, `http.path: must start with '/' and have no spaces, '?' or '#', got "http-bind" (from --path)`],
    [['--path', '/a?b'], {}, /^http\.path: must start with '\/'/],
    [[], { SHARED_BOSH_MAX_BODY_BYTES: '100' }, 'http.maxBodyBytes: must be an integer 1024..1073741824, got 100 (from SHARED_BOSH_MAX_BODY_BYTES)'],
    [[], { SHARED_BOSH_TRUST_PROXY: 'maybe' }, 'http.trustProxy: must be true or false, got "maybe" (from SHARED_BOSH_TRUST_PROXY)'],
    [['--log-level', 'loud'], {}, 'logLevel: must be one of fatal, error, warn, info, debug, trace, silent, got "loud" (from --log-level)'],
    [['--tls', 'maybe'], {}, 'domains.localhost.tls: must be one of required, optional, off, got "maybe" (from --tls)'],
    [['--upstream-port', '0'], {}, 'domains.localhost.port: must be an integer 1..65535, got 0 (from --upstream-port)'],
    [[], { SHARED_BOSH_INSECURE: 'maybe' }, 'domains.localhost.insecure: must be true or false, got "maybe" (from SHARED_BOSH_INSECURE)'],
    [['--domain', 'bad name'], {}, 'domains: "bad name" is not a valid domain name (from --domain)'],
    [['--domain', 'a..example'], {}, 'domains: "a..example" is not a valid domain name (from --domain)'],
    [['--domain', 'user@example.com'], {}, 'domains: "user@example.com" is not a valid domain name (from --domain)'],
    [['--domain', ''], {}, 'domains: at least one domain must be served (from --domain)'],
    [['--domain', 'a.example', '--domain', 'A.example'], {}, 'domains: "A.example" is listed twice (from --domain)'],
    [['--cors-origin', 'app.example'], {}, `cors.origins.0: must be '*' or an origin like https://app.example, got "app.example" (from --cors-origin)`],
    [['--cors-origin', 'https://app.example/path'], {}, /^cors\.origins\.0: must be '\*' or an origin/],
    [['--cors-origin', 'ftp://app.example'], {}, /^cors\.origins\.0: must be '\*' or an origin/],
    [[], { SHARED_BOSH_SHARED_ATTACH_ORIGINS: '*,nope' }, /^shared\.attachOrigins\.1: must be '\*' or an origin like https:\/\/app\.example, got "nope" \(from SHARED_BOSH_SHARED_ATTACH_ORIGINS\)$/],
    [[], { SHARED_BOSH_ALLOWED_ROUTES: 'xmpp.example' }, 'allowedRoutes.0: must be host:port, got "xmpp.example" (from SHARED_BOSH_ALLOWED_ROUTES)'],
    [[], { SHARED_BOSH_ALLOWED_ROUTES: 'xmpp.example:99999' }, /^allowedRoutes\.0: must be host:port/],
    [['--ca-file', join(dir, 'missing.pem')], {}, `domains.localhost.caFile: cannot read "${join(dir, 'missing.pem')}" (ENOENT) (from --ca-file)`],
    [[], { SHARED_BOSH_MAX_WAIT_S: '0' }, 'bosh.maxWaitS: must be an integer 1..3600, got 0 (from SHARED_BOSH_MAX_WAIT_S)'],
    [[], { SHARED_BOSH_METRICS_ALLOW: '127.0.0.1,10.0.0.0/33' }, 'metrics.allow.1: "10.0.0.0/33" is not an IP address or CIDR block (from SHARED_BOSH_METRICS_ALLOW)'],
    [[], { SHARED_BOSH_METRICS_ALLOW: 'localhost' }, 'metrics.allow.0: "localhost" is not an IP address or CIDR block (from SHARED_BOSH_METRICS_ALLOW)'],
    [[], { SHARED_BOSH_HEADERS_TIMEOUT_S: '40' }, 'http.headersTimeoutS: must not exceed http.requestTimeoutS (30), got 40 (from SHARED_BOSH_HEADERS_TIMEOUT_S)'],
    [[], { SHARED_BOSH_CONNECT_TIMEOUT_MS: '10' }, 'upstream.connectTimeoutMs: must be an integer 100..600000, got 10 (from SHARED_BOSH_CONNECT_TIMEOUT_MS)'],
    [['--prot', '1'], {}, "Unknown option '--prot' (see --help)"],
    [['--port'], {}, /^Option '--port <value>' argument missing/],
    [['--port', '--host', 'x'], {}, /^Option '--port' argument is ambiguous\. Did you forget .* \(see --help\)$/],
    [['serve'], {}, /^Unexpected argument 'serve'/],
    [['--config', join(dir, 'missing.yaml')], {}, `cannot read config file "${join(dir, 'missing.yaml')}" (--config): ENOENT`],
    [[], { SHARED_BOSH_CONFIG: join(dir, 'missing.yaml') }, `cannot read config file "${join(dir, 'missing.yaml')}" (SHARED_BOSH_CONFIG): ENOENT`],
  ];
  for (const [argv, env, expected] of table) {
    const message = errorOf(argv, env);
    if (typeof expected === 'string') assert.equal(message, expected);
    else assert.match(message, expected);
  }
});

test('every bad config-file value names the key and the file', () => {
  const table: Array<[string, RegExp]> = [
    ['http:\n  prot: 5280\n', /^http\.prot: unknown setting; known keys of http: host, port, path, maxBodyBytes, compressMinBytes, trustProxy, metricsPath, healthPath, readyPath, tls, http2, maxConnections, maxOpenFiles, reservedFiles, maxConnectionsPerAddress, maxRequestsPerAddress, headersTimeoutS, requestTimeoutS, idleTimeoutS \(in .*\.yaml\)$/],
    ['colour: blue\n', /^colour: unknown setting; known keys: http, cors, domains, .* \(in .*\.yaml\)$/],
    ['http: 5\n', /^http: must be a mapping, got 5 \(in .*\.yaml\)$/],
    ['http:\n  port: "5280"\n', /^http\.port: must be an integer 0\.\.65535, got "5280" \(in .*\.yaml\)$/],
    ['http:\n  port: ~\n', /^http\.port: must be an integer 0\.\.65535, got null \(in .*\.yaml\)$/],
    ['domains: [a.example]\n', /^domains: must be a mapping of domain names, got a list \(in .*\.yaml\)$/],
    ['domains: {}\n', /^domains: at least one domain must be served \(in .*\.yaml\)$/],
    ['domains:\n  a.example: { hots: x }\n', /^domains\.a\.example\.hots: unknown setting; known keys of domains\.a\.example: host, port, tls, caFile, insecure \(in .*\.yaml\)$/],
    ['domains:\n  a.example: { tls: true }\n', /^domains\.a\.example\.tls: must be one of required, optional, off, got true \(in .*\.yaml\)$/],
    ['domains:\n  a.example: { caFile: nope.pem }\n', /^domains\.a\.example\.caFile: cannot read ".*\/nope\.pem" \(ENOENT\) \(in .*\.yaml\)$/],
    ['cors:\n  origins: https://a.example\n', /^cors\.origins: must be a list, got "https:\/\/a\.example" \(in .*\.yaml\)$/],
    ['bosh:\n  maxHold: 1000\n', /^bosh\.maxHold: must be an integer 0\.\.100, got 1000 \(in .*\.yaml\)$/],
    ['http:\n  port: 1\n  port: 2\n', /^config file .*\.yaml, line 3, column 3: Map keys must be unique\n  2 \|   port: 1\n  3 \|   port: 2\n    \|   \^$/],
    ['http:\n  port: 5280\n   host: x\nbosh: {}\n', /^config file .*\.yaml, line 2, column 9: Nested mappings are not allowed in compact mappings\n  1 \| http:\n  2 \|   port: 5280\n    \|         \^\n  3 \|    host: x$/],
    ['http:\n  metricsPath: /x\n  healthPath: /x\n', /^http\.healthPath: "\/x" is already the path of http\.metricsPath \(in .*\.yaml\)$/],
    ['just a string\n', /^config file .*\.yaml: must be a mapping of settings, got "just a string"$/],
    ['- a\n- b\n', /^config file .*\.yaml: must be a mapping of settings, got a list$/],
  ];
  for (const [yaml, expected] of table) assert.match(errorOf(['--config', yamlFile(yaml)]), expected, yaml);
});

test('http.tls: off by default; cert and key from flags, variables or a file (relative to it) turn on HTTPS', () => {
  assert.equal(loadConfig([], {}).config.http.tls, null);
  const flags = loadConfig(['--tls-cert-file', tlsCert, '--tls-key-file', tlsKey, '--tls-ca-file', tlsCa], {}).config.http;
  assert.deepEqual(flags.tls, { certFile: tlsCert, keyFile: tlsKey, caFile: tlsCa });
  assert.equal(flags.http2, true, 'HTTP/2 is on by default with TLS');
  const mixed = loadConfig(['--tls-key-file', tlsKey], { SHARED_BOSH_TLS_CERT_FILE: tlsCert, SHARED_BOSH_HTTP2: 'no' }).config.http;
  assert.deepEqual([mixed.tls, mixed.http2], [{ certFile: tlsCert, keyFile: tlsKey }, false]);
  const file = yamlFile('http:\n  tls:\n    certFile: server.crt\n    keyFile: server.key\n  http2: false\n');
  const fromFile = loadConfig(['--config', file], {}).config.http;
  assert.deepEqual([fromFile.tls, fromFile.http2], [{ certFile: tlsCert, keyFile: tlsKey }, false]);
  const off = loadConfig(['--config', yamlFile('http:\n  tls: null\n')], {}).config.http.tls;
  assert.equal(off, null);
  const fromCwd = loadConfig(['--tls-cert-file', relative(process.cwd(), tlsCert), '--tls-key-file', tlsKey], {}).config.http.tls;
  assert.equal(fromCwd?.certFile, tlsCert, 'a relative path from a flag is made absolute');
});

test('http.tls: a missing, unreadable or mismatched file is an error naming the key, the file and the source', () => {
  const missing = join(dir, 'missing.pem');
  const table: Array<[string[], NodeJS.ProcessEnv, string | RegExp]> = [
    [['--tls-cert-file', tlsCert], {}, 'http.tls.keyFile: must name the PEM file of the private key when http.tls is used, got nothing (from --tls-cert-file)'],
    [[], { SHARED_BOSH_TLS_KEY_FILE: tlsKey }, 'http.tls.certFile: must name the PEM file of the certificate when http.tls is used, got nothing (from SHARED_BOSH_TLS_KEY_FILE)'],
    [['--tls-cert-file', missing, '--tls-key-file', tlsKey], {}, `http.tls.certFile: cannot read "${missing}" (ENOENT) (from --tls-cert-file)`],
    [['--tls-cert-file', tlsCert, '--tls-key-file', dir], {}, `http.tls.keyFile: cannot read "${dir}" (EISDIR) (from --tls-key-file)`],
    [['--tls-cert-file', tlsCert], { SHARED_BOSH_TLS_KEY_FILE: tlsKey, SHARED_BOSH_TLS_CA_FILE: missing }, `http.tls.caFile: cannot read "${missing}" (ENOENT) (from SHARED_BOSH_TLS_CA_FILE)`],
    [['--tls-cert-file', tlsKey, '--tls-key-file', tlsCert], {}, `http.tls.certFile: "${tlsKey}" holds no PEM certificate (no start line) (from --tls-cert-file); http.tls.keyFile: "${tlsCert}" holds no usable PEM private key (unsupported) (from --tls-key-file)`],
    [['--tls-cert-file', tlsCert, '--tls-key-file', otherKey], {}, `http.tls.keyFile: "${otherKey}" is not the private key of http.tls.certFile "${tlsCert}" (key values mismatch) (from --tls-key-file)`],
    [['--tls-cert-file', tlsCert, '--tls-key-file', tlsKey, '--tls-ca-file', tlsKey], {}, /^http\.tls\.caFile: ".*server\.key" holds no PEM certificate \(.*\) \(from --tls-ca-file\)$/],
    [['--tls-cert-file', ''], { SHARED_BOSH_TLS_KEY_FILE: tlsKey }, 'http.tls.certFile: must not be empty, got "" (from --tls-cert-file)'],
    [[], { SHARED_BOSH_HTTP2: 'maybe' }, 'http.http2: must be true or false, got "maybe" (from SHARED_BOSH_HTTP2)'],
  ];
  for (const [argv, env, expected] of table) {
    const message = errorOf(argv, env);
    if (typeof expected === 'string') assert.equal(message, expected);
    else assert.match(message, expected);
  }
  const fileTable: Array<[string, RegExp]> = [
    ['http:\n  tls: true\n', /^http\.tls: must be a mapping, got true \(in .*\.yaml\)$/],
    ['http:\n  tls: {}\n', /^http\.tls\.certFile: must name the PEM file of the certificate when http\.tls is used, got nothing \(in .*\.yaml\); http\.tls\.keyFile: must name/],
    ['http:\n  tls: { certFile: nope.crt, keyFile: server.key }\n', /^http\.tls\.certFile: cannot read ".*\/nope\.crt" \(ENOENT\) \(in .*\.yaml\)$/],
    ['http:\n  tls: { certFile: server.crt, keyFile: server.key, pass: x }\n', /^http\.tls\.pass: unknown setting; known keys of http\.tls: certFile, keyFile, caFile \(in .*\.yaml\)$/],
  ];
  for (const [yaml, expected] of fileTable) assert.match(errorOf(['--config', yamlFile(yaml)]), expected, yaml);
});

test('several bad values are all reported, on one line', () => {
  const message = errorOf(['--port', 'x', '--log-level', 'y'], {});
  assert.equal(message, 'http.port: must be an integer 0..65535, got "x" (from --port); logLevel: must be one of fatal, error, warn, info, debug, trace, silent, got "y" (from --log-level)');
  assert.doesNotMatch(message, /\n/);
});

test('B-140: valid settings that are probably mistakes are warned about', () => {
  const table: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--domain', 'example.com', '--tls', 'off'], {}, /^domains\.example\.com: tls is off, so XMPP traffic \(passwords included\) to example\.com is not encrypted/],
    [['--tls', 'off', '--insecure', '--upstream-host', '127.0.0.1'], {}, /^domains\.localhost\.insecure has no effect with tls: off$/],
    [['--tls', 'off', '--ca-file', caFile, '--upstream-host', '::1'], {}, /^domains\.localhost\.caFile has no effect with tls: off$/],
    [['--insecure'], {}, /^domains\.localhost: insecure is true, so the server's certificate is not verified/],
    [['--insecure', '--ca-file', caFile], {}, /^domains\.localhost\.caFile is not used while insecure is true$/],
    [[], { SHARED_BOSH_POLLING_S: '60' }, /^bosh\.pollingS \(60\) is not below bosh\.inactivityS \(60\)/],
    [[], { SHARED_BOSH_PROT: '1' }, /^SHARED_BOSH_PROT is not a shared-bosh setting; ignored/],
    [['--cors-origin', 'https://a.example'], { SHARED_BOSH_SHARED_ATTACH_ORIGINS: 'https://b.example' }, /^shared\.attachOrigins https:\/\/b\.example not in cors\.origins/],
    [[], { SHARED_BOSH_HTTP2: 'false' }, /^http\.http2 has no effect without http\.tls/],
  ];
  for (const [argv, env, expected] of table) {
    const { warnings } = loadConfig(argv, env);
    assert.ok(warnings.some((w) => expected.test(w)), `${JSON.stringify([argv, env])}: ${JSON.stringify(warnings)}`);
  }
  assert.deepEqual(loadConfig(['--tls', 'off', '--upstream-host', '127.0.0.1'], {}).warnings, []);
});

test('describeDomain says where each domain connects', () => {
  const table: Array<[string, Parameters<typeof describeDomain>[1], string]> = [
    ['localhost', { tls: 'required', insecure: false }, 'domain localhost -> SRV _xmpp-client._tcp.localhost, else localhost:5222, STARTTLS required'],
    ['example.com', { port: 5223, tls: 'optional', insecure: false }, 'domain example.com -> SRV _xmpp-client._tcp.example.com, else example.com:5223, STARTTLS if offered'],
    ['example.com', { host: '127.0.0.1', tls: 'off', insecure: false }, 'domain example.com -> 127.0.0.1:5222, no TLS'],
    ['example.com', { host: '::1', port: 15222, tls: 'required', insecure: false, caFile: '/ca.pem' }, 'domain example.com -> [::1]:15222, STARTTLS required, extra CAs from /ca.pem'],
    ['example.com', { host: 'xmpp.example.com', tls: 'required', insecure: true }, 'domain example.com -> xmpp.example.com:5222, STARTTLS required, certificate NOT verified'],
  ];
  for (const [name, domain, expected] of table) assert.equal(describeDomain(name, domain), expected);
});

test('--help names every flag, environment variable and config-file key', () => {
  const help = helpText();
  for (const spec of [...OPTIONS, ...DOMAIN_OPTIONS]) {
    assert.ok(help.includes(spec.env), spec.env);
    if (spec.flag) assert.ok(help.includes(`--${spec.flag}`), spec.flag);
    if (!spec.key.startsWith('domains')) assert.ok(help.includes(`  ${spec.key} `), spec.key);
  }
  for (const flag of ['--config', '--help', '--version', 'SHARED_BOSH_CONFIG', 'domains.<name>.caFile']) assert.ok(help.includes(flag), flag);
});

test('docs/configuration.md names every config key, environment variable and flag', () => {
  const docs = readFileSync(fileURLToPath(new URL('../../docs/configuration.md', import.meta.url)), 'utf8');
  for (const spec of [...OPTIONS, ...DOMAIN_OPTIONS]) {
    const key = spec.key.replace(/^domains\.\*\./, 'domains.<name>.');
    assert.ok(docs.includes(`\`${key}\``), key);
    assert.ok(docs.includes(`\`${spec.env}\``), spec.env);
    if (spec.flag) assert.ok(docs.includes(`\`--${spec.flag}`), spec.flag);
  }
});

test('shared-bosh.example.yaml copied unchanged holds exactly the defaults (only localhost); its commented-out domains load when uncommented', () => {
  const example = fileURLToPath(new URL('../../shared-bosh.example.yaml', import.meta.url));
  const { config, warnings } = loadConfig(['--config', example], {});
  assert.deepEqual(config, DEFAULT_CONFIG);
  assert.deepEqual(warnings, []);

  const text = readFileSync(example, 'utf8');
  const start = text.indexOf('\ndomains:\n');
  const end = text.indexOf('\n\n', start);
  const domains = text.slice(start, end).replace(/^ {2}# ((?:[a-z.]+:$)|(?: {2}(?!caFile)\w+: .*))/gm, '  $1');
  const uncommented = text.slice(0, start) + domains + text.slice(end);
  const { config: edited } = loadConfig(['--config', yamlFile(uncommented)], {});
  assert.deepEqual(Object.keys(edited.domains), ['localhost', 'example.com', 'internal.example']);
  assert.deepEqual(edited.domains['example.com'], { host: 'xmpp.example.com', port: 5222, tls: 'required', insecure: false });
  assert.deepEqual(edited.domains['internal.example'], { host: '127.0.0.1', port: 15222, tls: 'off', insecure: false });
});
