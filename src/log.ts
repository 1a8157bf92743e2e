import { pino, type Logger as PinoLogger, type DestinationStream, type Level } from 'pino';

export type { PinoLogger };
/** What the CM's classes take: pino's Logger, or a childLog() of it. */
export type Logger = Log;
export type LogLevel = Level | 'silent';

/**
 * Field names that might carry a secret. Code never passes secrets to the logger; this is the
 * second line of defence, so that a mistake prints '[redacted]' instead of a key or password.
 * They are replaced at the top of a line (bindings included) and one level below it
 * (`{ request: { key } }`).
 */
const SECRET_FIELDS: ReadonlySet<string> = new Set(['key', 'newkey', 'sharedKey', 'password', 'sasl', 'body', 'payload', 'authorization']);
const CENSOR = '[redacted]';

/**
 * `fields` with every SECRET_FIELDS value, at the top or one level below, replaced by
 * '[redacted]': a copy where something was replaced, `fields` itself otherwise (the caller's
 * objects are never changed). pino's own `redact` option did the same with compiled paths, but
 * its wildcard paths cost about 3.5 µs per line, a quarter of the CM's cost of a line at info
 * ('session created', once per login); this walk costs a few hundred ns.
 */
export function redactSecrets(fields: Record<string, unknown>): Record<string, unknown> {
  let out = fields;
  for (const name in fields) {
    const value = fields[name];
    let replaced: unknown = value;
    if (value === undefined) continue;
    if (SECRET_FIELDS.has(name)) replaced = CENSOR;
    else if (value !== null && typeof value === 'object') replaced = redactedInner(value as Record<string, unknown>);
    if (replaced !== value) {
      if (out === fields) out = { ...fields };
      out[name] = replaced;
    }
  }
  return out;
}

/** One level below the top: a copy with the secrets replaced, or `inner` itself. */
function redactedInner(inner: Record<string, unknown>): Record<string, unknown> {
  let out = inner;
  for (const name in inner) {
    if (!SECRET_FIELDS.has(name) || inner[name] === undefined) continue;
    if (out === inner) {
      // An Error keeps what pino's err serializer would have written of it.
      out = inner instanceof Error ? { ...inner, type: inner.name, message: inner.message, stack: inner.stack } : Array.isArray(inner) ? Object.assign([], inner) : { ...inner };
    }
    out[name] = CENSOR;
  }
  return out;
}

/**
 * Log lines to stdout are buffered up to this many bytes, and written at least every
 * LOG_FLUSH_MS. Unbuffered, every session's "session created" line cost a write of its own; in
 * a profile of 1,000 logins those writes were 11 % of the CM's CPU.
 */
export const LOG_BUFFER_BYTES = 4096;
export const LOG_FLUSH_MS = 1000;

/**
 * The root logger: structured JSON lines (pino), one child per session and per upstream link.
 * Without a destination it writes to stdout asynchronously (pino.destination with sync: false),
 * LOG_BUFFER_BYTES at a time or every LOG_FLUSH_MS, whichever comes first, so that a busy CM
 * does not pay one write(2) per line. pino flushes what is left when the process exits (also
 * after an uncaught exception); only a SIGKILL loses the last second of lines.
 */
export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): PinoLogger {
  return pino(
    {
      level,
      base: { name: 'shared-bosh' },
      // Top-level fields and bindings (pino children's included) through pino's compiled paths;
      // one level below through redactSecrets (pino's wildcard paths cost 3.5 µs per line).
      redact: { paths: [...SECRET_FIELDS], censor: CENSOR },
      formatters: { log: redactSecrets },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS }),
  );
}

/** A logger that collects every line in memory, for tests that assert what was (not) logged. */
export function createMemoryLogger(level: LogLevel = 'trace'): { logger: PinoLogger; lines: string[] } {
  const lines: string[] = [];
  const destination: DestinationStream = { write: (line: string) => void lines.push(line) };
  return { logger: createLogger(level, destination), lines };
}

type LevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** One level's method, in the two forms the CM uses: `(fields, msg)` and `(msg)`. */
export interface LogMethod {
  (fields: object, msg?: string): void;
  (msg: string): void;
}

/**
 * What sessions, links and upstream streams log through. A pino Logger is one; so is the cheap
 * child that childLog() makes for each of them.
 */
export interface Log {
  trace: LogMethod;
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  fatal: LogMethod;
  isLevelEnabled(level: string): boolean;
  child(bindings: Record<string, unknown>): Log;
}

/**
 * A child logger for a session, a link or an upstream stream: its lines carry `bindings` (first,
 * as a pino child's would) and are written by the root logger. A pino child costs about 350
 * bytes (its own prototype, level methods and serialized bindings), which an idle CM pays once
 * per session, link and stream; this one is a small object and merges the bindings into the
 * lines it actually writes.
 */
export function childLog(parent: Log, bindings: Record<string, unknown>): Log {
  return parent instanceof BoundLog ? parent.child(bindings) : new BoundLog(parent, bindings, undefined);
}

class BoundLog implements Log {
  /**
   * A child of a child keeps its own bindings and its parent: merging them here would give every
   * child an object of its own shape (V8 map and descriptors, ~190 bytes); lines are rarer.
   */
  constructor(
    private readonly root: Log,
    private readonly bindings: Record<string, unknown>,
    private readonly parent: BoundLog | undefined,
  ) {}

  trace(fields: object | string, msg?: string): void {
    this.write('trace', fields, msg);
  }

  debug(fields: object | string, msg?: string): void {
    this.write('debug', fields, msg);
  }

  info(fields: object | string, msg?: string): void {
    this.write('info', fields, msg);
  }

  warn(fields: object | string, msg?: string): void {
    this.write('warn', fields, msg);
  }

  error(fields: object | string, msg?: string): void {
    this.write('error', fields, msg);
  }

  fatal(fields: object | string, msg?: string): void {
    this.write('fatal', fields, msg);
  }

  isLevelEnabled(level: string): boolean {
    return this.root.isLevelEnabled(level);
  }

  child(bindings: Record<string, unknown>): Log {
    return new BoundLog(this.root, bindings, this);
  }

  /** Every binding from the outermost parent in, as a pino child chain would write them. */
  private allBindings(): Record<string, unknown> {
    return this.parent ? { ...this.parent.allBindings(), ...this.bindings } : this.bindings;
  }

  private write(level: LevelName, fields: object | string, msg: string | undefined): void {
    if (!this.root.isLevelEnabled(level)) return;
    const bindings = this.allBindings();
    if (typeof fields === 'string') this.root[level](bindings, fields);
    else if (fields instanceof Error) this.root[level]({ ...bindings, err: fields }, msg ?? fields.message);
    else this.root[level]({ ...bindings, ...fields }, msg);
  }
}
