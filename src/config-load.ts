import { X509Certificate } from 'node:crypto';
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import { parse as parseYaml, YAMLError } from 'yaml';
import { z } from 'zod';
import {
  addressList, configSchema, DEFAULT_CONFIG, DOMAIN_DEFAULTS, innerSchema, options,
  type CmConfig, type DomainConfig, type HttpTlsConfig, type OptionKind, type OptionSpec,
} from './config.js';

/**
 * The final configuration, from (in increasing precedence) DEFAULT_CONFIG, a YAML file,
 * SHARED_BOSH_* environment variables and command-line flags. Every key, variable and flag is
 * declared once, in src/config.ts; `--help` and docs/configuration.md are made from it.
 */

/** A bad flag, variable, file or value; `message` is one line that names the key and the value. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(issues.join('; '));
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: CmConfig;
  /** Absolute path of the config file read, if any. */
  configFile?: string;
  /** Settings that are valid but probably not what was meant (e.g. `insecure` with `tls: off`). */
  warnings: string[];
}

export type { OptionSpec };

export const ENV_PREFIX = 'SHARED_BOSH_';
export const CONFIG_ENV = 'SHARED_BOSH_CONFIG';

/** An option that a variable (and maybe a flag) sets: every one but the `http.tls` group. */
export type SettableOption = OptionSpec & { env: string };
const ALL = options().filter((spec): spec is SettableOption => spec.env !== undefined);
/** Every settable option except the served domains (config.ts declares them). */
export const OPTIONS: readonly SettableOption[] = ALL.filter((spec) => !spec.key.startsWith('domains'));
/**
 * Shorthands for the served domains. `--domain` (repeatable) / SHARED_BOSH_DOMAINS choose the
 * served domains (replacing those of lower precedence); the others set that field of EVERY served
 * domain. Per-domain settings go in the config file.
 */
export const DOMAIN_OPTIONS: readonly SettableOption[] = ALL.filter((spec) => spec.key.startsWith('domains'));

type FlagOptions = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

const FLAG_OPTIONS: FlagOptions = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
};
for (const spec of [...OPTIONS, ...DOMAIN_OPTIONS]) {
  if (!spec.flag) continue;
  FLAG_OPTIONS[spec.flag] = spec.kind === 'bool' ? { type: 'boolean' } : spec.kind === 'list' ? { type: 'string', multiple: true } : { type: 'string' };
}

export interface ParsedFlags {
  help: boolean;
  version: boolean;
  config?: string;
  /** Every other flag given, by flag name. */
  values: Record<string, string | boolean | string[]>;
}

/** The command line (util.parseArgs, strict): unknown flags and missing values are errors. */
export function parseFlags(argv: string[]): ParsedFlags {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: FLAG_OPTIONS, strict: true, allowPositionals: false });
  } catch (err) {
    throw new ConfigError([`${(err as Error).message.trim().replace(/\s*\n\s*/g, ' ').replace(/\.$/, '')} (see --help)`]);
  }
  const { help, version, config, ...values } = parsed.values as Record<string, string | boolean | string[]>;
  return {
    help: help === true,
    version: version === true,
    ...(typeof config === 'string' ? { config } : {}),
    values,
  };
}

// ---------------------------------------------------------------------------------------------

type Plain = Record<string, unknown>;
type Sources = Map<string, string>;

/** The final CmConfig from defaults < config file < environment < flags, validated. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): LoadedConfig {
  const flags = parseFlags(argv);
  const sources: Sources = new Map();
  const issues: string[] = [];
  const warnings: string[] = [];
  const merged = structuredClone(DEFAULT_CONFIG) as unknown as Plain;

  const fileArg = flags.config ?? nonEmpty(env[CONFIG_ENV]);
  let configFile: string | undefined;
  if (fileArg !== undefined) {
    configFile = resolve(fileArg);
    const fileLayer = readConfigFile(configFile, flags.config !== undefined ? '--config' : CONFIG_ENV);
    mergeFileLayer(merged, fileLayer, `in ${configFile}`, sources);
  }

  for (const name of Object.keys(env)) {
    if (!name.startsWith(ENV_PREFIX) || name === CONFIG_ENV) continue;
    if (![...OPTIONS, ...DOMAIN_OPTIONS].some((spec) => spec.env === name)) {
      warnings.push(`${name} is not a shared-bosh setting; ignored (see --help)`);
    }
  }
  applyLayer(merged, sources, (spec) => nonEmpty(env[spec.env]), (spec) => `from ${spec.env}`);
  applyLayer(merged, sources, (spec) => (spec.flag === undefined ? undefined : flags.values[spec.flag]), (spec) => `from --${spec.flag}`);

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) issues.push(...formatIssue(issue, merged, sources));
    throw new ConfigError(issues);
  }
  const config = result.data as CmConfig;
  normalize(config, sources, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  warnings.push(...crossFieldWarnings(config));
  return { config, ...(configFile !== undefined ? { configFile } : {}), warnings };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * A YAML syntax error as `config file F, line L, column C: <what>` and the lines around it with a
 * caret under the column (the parser's own message says where in words only).
 */
function yamlError(path: string, source: string, err: unknown): string {
  const message = (err as Error).message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const pos = err instanceof YAMLError ? err.linePos?.[0] : undefined;
  if (pos === undefined) return `config file ${path}: ${message}`;
  const lines = source.split(/\r?\n/);
  const first = Math.max(1, pos.line - 1);
  const last = Math.min(lines.length, pos.line + 1);
  const width = String(last).length;
  const snippet: string[] = [];
  for (let n = first; n <= last; n++) {
    if (n === last && n > pos.line && lines[n - 1] === '') break;
    snippet.push(`  ${String(n).padStart(width)} | ${lines[n - 1]}`);
    if (n === pos.line) snippet.push(`  ${' '.repeat(width)} | ${' '.repeat(pos.col - 1)}^`);
  }
  return [`config file ${path}, line ${pos.line}, column ${pos.col}: ${message}`, ...snippet].join('\n');
}

function readConfigFile(path: string, via: string): Plain {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read config file "${path}" (${via}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(source);
  } catch (err) {
    throw new ConfigError([yamlError(path, source, err)]);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlain(parsed)) throw new ConfigError([`config file ${path}: must be a mapping of settings, got ${describe(parsed)}`]);
  // A file named in the config file is relative to the file, not to the working directory.
  const domains = parsed.domains;
  if (isPlain(domains)) {
    for (const [name, entry] of Object.entries(domains)) {
      if (entry === null) domains[name] = {};
      else if (isPlain(entry) && typeof entry.caFile === 'string') entry.caFile = resolve(dirname(path), entry.caFile);
    }
  }
  const tls = isPlain(parsed.http) ? parsed.http.tls : undefined;
  if (isPlain(tls)) {
    for (const field of HTTP_TLS_FILES) {
      const file = tls[field];
      if (typeof file === 'string' && file !== '') tls[field] = resolve(dirname(path), file);
    }
  }
  return parsed;
}

/** Deep merge; lists and the `domains` map are replaced whole (a file's domains are THE domains). */
function mergeFileLayer(target: Plain, layer: Plain, source: string, sources: Sources, prefix = ''): void {
  for (const [key, value] of Object.entries(layer)) {
    const path = prefix + key;
    if (isPlain(value) && isPlain(target[key]) && path !== 'domains') {
      mergeFileLayer(target[key] as Plain, value, source, sources, path + '.');
    } else {
      target[key] = value;
      sources.set(path, source);
    }
  }
}

/** Applies one layer of strings (environment) or flag values, converted to the key's type. */
function applyLayer(
  merged: Plain,
  sources: Sources,
  valueOf: (spec: SettableOption) => string | boolean | string[] | undefined,
  sourceOf: (spec: SettableOption) => string,
): void {
  for (const spec of OPTIONS) {
    const raw = valueOf(spec);
    if (raw === undefined) continue;
    const turnedOn = setPath(merged, spec.key, convert(raw, kindOf(spec)));
    sources.set(spec.key, sourceOf(spec));
    if (turnedOn !== undefined) sources.set(turnedOn, sourceOf(spec));
  }
  const [domainsSpec, ...fieldSpecs] = DOMAIN_OPTIONS;
  const names = valueOf(domainsSpec!);
  if (names !== undefined && isPlain(merged.domains)) {
    const previous = merged.domains;
    const next: Plain = {};
    for (const name of convert(names, 'list') as string[]) next[name] = previous[name] ?? {};
    merged.domains = next;
    sources.set('domains', sourceOf(domainsSpec!));
  }
  for (const spec of fieldSpecs) {
    const raw = valueOf(spec);
    if (raw === undefined || !isPlain(merged.domains)) continue;
    const value = convert(raw, kindOf(spec));
    for (const [name, entry] of Object.entries(merged.domains)) {
      const domain = isPlain(entry) ? entry : (merged.domains[name] = {});
      (domain as Plain)[spec.field!] = value;
      sources.set(`domains.${name}.${spec.field}`, sourceOf(spec));
    }
  }
}

/** Strings from the environment or flags to the key's type; a value that does not convert is left for zod to report. */
function convert(raw: string | boolean | string[], kind: OptionKind): unknown {
  if (typeof raw === 'boolean') return raw;
  if (Array.isArray(raw)) return kind === 'list' ? raw.flatMap(splitList) : raw[raw.length - 1];
  const value = raw.trim();
  switch (kind) {
    case 'int':
      return /^[+-]?\d+$/.test(value) ? Number(value) : value;
    case 'bool':
      if (/^(true|1|yes|on)$/i.test(value)) return true;
      if (/^(false|0|no|off)$/i.test(value)) return false;
      return value;
    case 'list':
      return splitList(value);
    case 'file':
      return value === '' ? value : resolve(value);
    default:
      return value;
  }
}

function kindOf(spec: OptionSpec): OptionKind {
  return spec.kind ?? 'string';
}

function splitList(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

/** Lines like `http.port: must be an integer 0..65535, got "abc" (from SHARED_BOSH_PORT)`. */
function formatIssue(issue: z.core.$ZodIssue, input: Plain, sources: Sources): string[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(path);
    return issue.keys.map((key) => {
      const hint = known.length > 0 ? `; known keys${path.length > 0 ? ` of ${path.join('.')}` : ''}: ${known.join(', ')}` : '';
      return `${[...path, key].join('.')}: unknown setting${hint}${sourceSuffix(sources, [...path, key])}`;
    });
  }
  const value = getPath(input, path);
  const key = path.length > 0 ? path.join('.') : 'config';
  return [`${key}: ${issue.message}, got ${describe(value)}${sourceSuffix(sources, path)}`];
}

function knownKeys(path: string[]): string[] {
  let schema: z.ZodType = configSchema;
  for (const part of path) {
    schema = innerSchema(schema);
    const next: z.ZodType | undefined = schema instanceof z.ZodObject ? (schema.shape as Record<string, z.ZodType>)[part]
      : schema instanceof z.ZodRecord ? (schema.valueType as z.ZodType) : undefined;
    if (next === undefined) return [];
    schema = next;
  }
  schema = innerSchema(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function sourceSuffix(sources: Sources, path: string[]): string {
  for (let n = path.length; n > 0; n--) {
    const source = sources.get(path.slice(0, n).join('.'));
    if (source) return ` (${source})`;
  }
  return '';
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (isPlain(value)) return 'a mapping';
  return String(value);
}

/** Checks zod cannot express, and canonical forms: domain names, origins, routes, CA files. */
function normalize(config: CmConfig, sources: Sources, issues: string[]): void {
  const src = (path: string) => sourceSuffix(sources, path.split('.'));

  const domains: Record<string, DomainConfig> = {};
  for (const [rawName, domain] of Object.entries(config.domains)) {
    const name = rawName.toLowerCase().replace(/\.$/, '');
    if (!isDomainName(name)) {
      issues.push(`domains: ${JSON.stringify(rawName)} is not a valid domain name${src(`domains.${rawName}`)}`);
      continue;
    }
    if (domains[name]) {
      issues.push(`domains: ${JSON.stringify(rawName)} is listed twice${src(`domains.${rawName}`)}`);
      continue;
    }
    if (domain.caFile !== undefined) {
      try {
        accessSync(domain.caFile, fsConstants.R_OK);
      } catch (err) {
        issues.push(`domains.${rawName}.caFile: cannot read ${JSON.stringify(domain.caFile)} (${(err as NodeJS.ErrnoException).code ?? 'error'})${src(`domains.${rawName}.caFile`)}`);
      }
    }
    domains[name] = domain;
  }
  if (Object.keys(config.domains).length === 0) issues.push(`domains: at least one domain must be served${src('domains')}`);
  config.domains = domains;

  if (config.http.tls !== null) checkHttpTls(config.http.tls, src, issues);
  const { headersTimeoutS, requestTimeoutS } = config.http;
  if (headersTimeoutS > 0 && requestTimeoutS > 0 && headersTimeoutS > requestTimeoutS) {
    issues.push(`http.headersTimeoutS: must not exceed http.requestTimeoutS (${requestTimeoutS}), got ${headersTimeoutS}${src('http.headersTimeoutS')}`);
  }
  config.metrics.allow.forEach((entry, i) => {
    try {
      addressList([entry]);
    } catch (err) {
      issues.push(`metrics.allow.${i}: ${(err as Error).message}${src('metrics.allow')}`);
    }
  });

  const pathOwner = new Map<string, string>();
  for (const field of ['path', 'metricsPath', 'healthPath', 'readyPath'] as const) {
    const path = config.http[field];
    if (path === '') continue;
    const owner = pathOwner.get(path);
    if (owner !== undefined) issues.push(`http.${field}: ${JSON.stringify(path)} is already the path of ${owner}${src(`http.${field}`)}`);
    else pathOwner.set(path, `http.${field}`);
  }

  config.cors.origins = normalizeOrigins(config.cors.origins, 'cors.origins', src, issues);
  if (config.shared.attachOrigins !== null) {
    config.shared.attachOrigins = normalizeOrigins(config.shared.attachOrigins, 'shared.attachOrigins', src, issues);
  }
  config.allowedRoutes = config.allowedRoutes.map((route, i) => {
    const m = /^\[?([^\s\[\]]+?)\]?:(\d{1,5})$/.exec(route.trim());
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      issues.push(`allowedRoutes.${i}: must be host:port, got ${JSON.stringify(route)}${src('allowedRoutes')}`);
      return route;
    }
    return `${m[1]!.toLowerCase()}:${port}`;
  });
}

const HTTP_TLS_FILES = ['certFile', 'keyFile', 'caFile'] as const;

/**
 * The files of `http.tls` are read and tried now, so that a wrong path, a file that is not PEM or
 * a key of another certificate is a configuration error (exit 2), not a failure at start.
 */
function checkHttpTls(tls: HttpTlsConfig, src: (path: string) => string, issues: string[]): void {
  const pem: Partial<Record<keyof HttpTlsConfig, Buffer>> = {};
  for (const field of HTTP_TLS_FILES) {
    const file = tls[field];
    if (file === undefined) continue;
    try {
      pem[field] = readFileSync(file);
    } catch (err) {
      issues.push(`http.tls.${field}: cannot read ${JSON.stringify(file)} (${(err as NodeJS.ErrnoException).code ?? 'error'})${src(`http.tls.${field}`)}`);
    }
  }
  const reason = (err: unknown): string => (err as Error).message.replace(/^error:[0-9A-F]+:[^:]*::?/i, '');
  const tryPem = (field: keyof HttpTlsConfig, check: (pem: Buffer) => void, what: string): boolean => {
    const data = pem[field];
    if (data === undefined) return false;
    try {
      check(data);
      return true;
    } catch (err) {
      issues.push(`http.tls.${field}: ${JSON.stringify(tls[field])} holds no ${what} (${reason(err)})${src(`http.tls.${field}`)}`);
      return false;
    }
  };
  const cert = tryPem('certFile', (data) => createSecureContext({ cert: data }), 'PEM certificate');
  const key = tryPem('keyFile', (data) => createSecureContext({ key: data }), 'usable PEM private key');
  if (tls.caFile !== undefined) tryPem('caFile', (data) => new X509Certificate(data), 'PEM certificate');
  if (!cert || !key) return;
  try {
    createSecureContext({ cert: pem.certFile, key: pem.keyFile });
  } catch (err) {
    issues.push(`http.tls.keyFile: ${JSON.stringify(tls.keyFile)} is not the private key of http.tls.certFile ${JSON.stringify(tls.certFile)} (${reason(err)})${src('http.tls.keyFile')}`);
  }
}

function normalizeOrigins(origins: string[], key: string, src: (path: string) => string, issues: string[]): string[] {
  return origins.map((origin, i) => {
    if (origin === '*') return origin;
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    const plain = url && (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === ''
      && (url.pathname === '/' || url.pathname === '') && url.search === '' && url.hash === '' && !/\/./.test(origin.replace(/^[a-z]+:\/\//i, ''));
    if (!url || !plain) {
      issues.push(`${key}.${i}: must be '*' or an origin like https://app.example, got ${JSON.stringify(origin)}${src(key)}`);
      return origin;
    }
    return url.origin;
  });
}

/** An XMPP domainpart: DNS-like labels (Unicode allowed), an IPv4 address or a bracketed IPv6 one. */
function isDomainName(name: string): boolean {
  if (/^\[[0-9a-f:.]+\]$/i.test(name)) return true;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => /^[\p{L}\p{N}_](?:[\p{L}\p{N}_-]{0,61}[\p{L}\p{N}_])?$/u.test(label));
}

/** Valid settings that probably do not do what was meant. */
function crossFieldWarnings(config: CmConfig): string[] {
  const warnings: string[] = [];
  for (const [name, d] of Object.entries(config.domains)) {
    if (d.tls === 'off') {
      if (d.insecure) warnings.push(`domains.${name}.insecure has no effect with tls: off`);
      if (d.caFile !== undefined) warnings.push(`domains.${name}.caFile has no effect with tls: off`);
      if (!isLoopback(d.host)) {
        warnings.push(`domains.${name}: tls is off, so XMPP traffic (passwords included) to ${d.host ?? name} is not encrypted; use only on loopback or a trusted network (XEP-0124 §19.2)`);
      }
    } else if (d.insecure) {
      warnings.push(`domains.${name}: insecure is true, so the server's certificate is not verified (testing only)`);
      if (d.caFile !== undefined) warnings.push(`domains.${name}.caFile is not used while insecure is true`);
    }
  }
  if (config.http.tls === null && !config.http.http2) {
    warnings.push('http.http2 has no effect without http.tls: plain HTTP is served as HTTP/1.1 only');
  }
  if (config.bosh.pollingS >= config.bosh.inactivityS) {
    warnings.push(`bosh.pollingS (${config.bosh.pollingS}) is not below bosh.inactivityS (${config.bosh.inactivityS}): clients polling at the permitted rate could time out`);
  }
  if (config.shared.attachOrigins !== null && !config.cors.origins.includes('*')) {
    const blocked = config.shared.attachOrigins.filter((o) => o !== '*' && !config.cors.origins.includes(o));
    if (blocked.length > 0) warnings.push(`shared.attachOrigins ${blocked.join(', ')} not in cors.origins: browsers there cannot reach the CM at all`);
  }
  return warnings;
}

function isLoopback(host: string | undefined): boolean {
  return host !== undefined && (host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host));
}

/**
 * One line per served domain saying where the CM connects, e.g.
 * `domain localhost -> SRV _xmpp-client._tcp.localhost, else localhost:5222, STARTTLS required`.
 */
export function describeDomain(name: string, d: DomainConfig): string {
  const port = d.port ?? 5222;
  const target = d.host !== undefined ? hostPort(d.host, port) : `SRV _xmpp-client._tcp.${name}, else ${hostPort(name, port)}`;
  const tls = d.tls === 'required' ? 'STARTTLS required' : d.tls === 'optional' ? 'STARTTLS if offered' : 'no TLS';
  const extras: string[] = [];
  if (d.tls !== 'off' && d.insecure) extras.push('certificate NOT verified');
  else if (d.tls !== 'off' && d.caFile !== undefined) extras.push(`extra CAs from ${d.caFile}`);
  return `domain ${name} -> ${target}, ${tls}${extras.map((e) => `, ${e}`).join('')}`;
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/** `--help`: usage, every flag, every environment variable and every config-file key, with defaults. */
export function helpText(): string {
  const out: string[] = [];
  out.push(
    'Usage: shared-bosh [options]',
    '       shared-bosh check [options]   check each served domain\'s XMPP server (resolve, connect,',
    '                                     STARTTLS, certificate): one line each, exit 1 if one failed',
    '',
    'A BOSH (XEP-0124/XEP-0206) connection manager with Shared BOSH. It listens for BOSH on',
    'http://<host>:<port><path> (https:// with --tls-cert-file and --tls-key-file, then HTTP/2 and',
    'HTTP/1.1 on the same port) and connects each session to the XMPP server of its domain.',
    'Settings come from (lowest to highest precedence) defaults, a YAML config file,',
    'SHARED_BOSH_* environment variables, and these flags. See docs/configuration.md.',
  );
  const section = (title: string, rows: Array<[string, string]>): void => {
    const width = Math.max(...rows.map(([left]) => left.length)) + 2;
    out.push('', title);
    for (const [left, right] of rows) {
      const lines = wrap(right, Math.max(40, HELP_COLUMNS - 2 - width));
      out.push(`  ${left.padEnd(width)}${lines[0]}`);
      for (const line of lines.slice(1)) out.push(`  ${' '.repeat(width)}${line}`);
    }
  };
  const all = [...OPTIONS, ...DOMAIN_OPTIONS];
  section('Flags:', [
    ['-c, --config FILE', `YAML config file. Env ${CONFIG_ENV}.`],
    ...all
      .filter((spec) => spec.flag !== undefined)
      .map((spec): [string, string] => [
        spec.kind === 'bool' ? `--${spec.flag}` : `--${spec.flag} ${spec.value}`,
        `${spec.description}${spec.kind === 'list' ? ' Repeatable.' : ''} Default: ${defaultOf(spec)}. Env ${spec.env}.`,
      ]),
    ['-h, --help', 'Print this help and exit.'],
    ['-V, --version', 'Print the version and exit.'],
  ]);
  section('Environment variables (lists comma-separated; booleans true/false; empty = unset):', [
    [CONFIG_ENV, 'YAML config file (like --config).'],
    ...all.map((spec): [string, string] => [spec.env, `${spec.key} (default ${defaultOf(spec)})`]),
  ]);
  section('Config file keys (YAML; see shared-bosh.example.yaml):', [
    ...OPTIONS.map((spec): [string, string] => [spec.key, `${spec.description} Default: ${defaultOf(spec)}.`]),
    ['domains.<name>', 'A served XMPP domain: a mapping with the keys below, or empty for the defaults. The file\'s domains replace the default (localhost).'],
    ...DOMAIN_OPTIONS.slice(1).map((spec): [string, string] => [
      `domains.<name>.${spec.field}`,
      `${spec.fileDescription ?? spec.description} Default: ${defaultOf(spec)}.`,
    ]),
  ]);
  out.push(
    '',
    '--upstream-host, --upstream-port, --tls, --ca-file and --insecure (and their variables) set every',
    'served domain; per-domain settings go in the config file. --tls is STARTTLS to the XMPP server;',
    'the --tls-*-file flags are HTTPS for clients. A bad value exits with status 2.',
  );
  return out.join('\n') + '\n';
}

const HELP_COLUMNS = 100;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines;
}

export function defaultOf(spec: OptionSpec): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  const value = spec.field !== undefined ? getPath(DOMAIN_DEFAULTS, [spec.field]) : getPath(DEFAULT_CONFIG, spec.key.split('.'));
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.join(',');
  return String(value);
}

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function getPath(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const part of path) {
    if (isPlain(node)) node = node[part];
    else if (Array.isArray(node)) node = node[Number(part)];
    else return undefined;
  }
  return node;
}

/** Sets one key; returns the group it turned on, if any (`http.tls`, null until one of its keys is set). */
function setPath(root: Plain, key: string, value: unknown): string | undefined {
  const parts = key.split('.');
  let node = root;
  let turnedOn: string | undefined;
  for (const [i, part] of parts.slice(0, -1).entries()) {
    const path = parts.slice(0, i + 1);
    if (node[part] === null && getPath(DEFAULT_CONFIG, path) === null) {
      node[part] = {};
      turnedOn ??= path.join('.');
    }
    // A file that made this a non-mapping keeps its value, so that its own error is reported.
    if (!isPlain(node[part])) return undefined;
    node = node[part] as Plain;
  }
  node[parts[parts.length - 1]!] = value;
  return turnedOn;
}
