import { readFileSync } from 'node:fs';

/** Used where /proc/self/limits cannot be read (not Linux): the usual soft limit. */
export const FALLBACK_OPEN_FILES = 1024;

/**
 * The process's file descriptor limit: `configured` when set (> 0), else the soft
 * RLIMIT_NOFILE that Linux shows in /proc/self/limits (node raises it to the hard limit at
 * start), else FALLBACK_OPEN_FILES. Node has no API for getrlimit.
 */
export function openFilesLimit(configured: number, limitsFile = '/proc/self/limits'): number {
  if (configured > 0) return configured;
  try {
    const line = readFileSync(limitsFile, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft === 'unlimited') return Number.MAX_SAFE_INTEGER;
    const value = Number(soft);
    if (Number.isSafeInteger(value) && value > 0) return value;
  } catch {
    // Not Linux, or no /proc: the fallback below.
  }
  return FALLBACK_OPEN_FILES;
}
