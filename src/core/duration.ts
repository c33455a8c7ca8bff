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
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return seconds === 0 ? `${minutes}m` : `${minutes}m ${seconds}s`;
  const hours = Math.floor(minutes / 60);
  return `${hours}h ${minutes % 60}m`;
}
