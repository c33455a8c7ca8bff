import { usageError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration like `500ms`, `5s`, `30m`, `1h` (or a plain number of
 * milliseconds) into milliseconds.
 */
export function parseDuration(input: string | number, what = 'duration'): number {
  if (typeof input === 'number') {
    if (Number.isFinite(input) && input >= 0) return Math.round(input);
    throw usageError('invalid_duration', `The ${what} must be a non-negative number of milliseconds, got ${input}.`);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(input);
  if (match === null) {
    throw usageError('invalid_duration', `The ${what} "${input}" is not a duration: expected a number with a unit, like 500ms, 5s, 30m or 1h.`);
  }
  const unit = match[2] ?? 'ms';
  return Math.round(Number(match[1]) * (UNITS[unit] ?? 1));
}

/** Formats milliseconds for people: 1.2s, 4m 5s. */
export function formatDuration(ms: number): string {
  // Round to the unit shown before splitting, so 59.6s reads "1m", never "60s" or "1m 60s".
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`;
  if (ms < 9_950) return `${(ms / 1000).toFixed(1)}s`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 60) return `${totalSeconds}s`;
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  if (minutes < 60) return seconds === 0 ? `${minutes}m` : `${minutes}m ${seconds}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}
