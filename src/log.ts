import { pino, type Logger, type DestinationStream, type Level } from 'pino';

export type { Logger };
export type LogLevel = Level | 'silent';

/**
 * Field names that might carry a secret. Code never passes secrets to the logger; this is the
 * second line of defence, so that a mistake prints '[redacted]' instead of a key or password.
 */
const REDACTED_PATHS = [
  'key', 'newkey', 'sharedKey', 'password', 'sasl', 'body', 'payload', 'authorization',
  '*.key', '*.newkey', '*.sharedKey', '*.password', '*.sasl', '*.body', '*.payload', '*.authorization',
];

/**
 * The root logger: structured JSON lines (pino), one child per session and per upstream link.
 * Without a destination it writes to stdout asynchronously (pino.destination with sync: false):
 * lines written while a write is in flight go out together, so a busy CM does not pay one
 * write(2) per line; pino flushes what is left when the process exits.
 */
export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: 'shared-bosh' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that collects every line in memory, for tests that assert what was (not) logged. */
export function createMemoryLogger(level: LogLevel = 'trace'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination: DestinationStream = { write: (line: string) => void lines.push(line) };
  return { logger: createLogger(level, destination), lines };
}
