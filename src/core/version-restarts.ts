import { parseProcessId } from './names.js';

/**
 * PM2 restarts of one version in an interval, from two PM2 lists taken at
 * its ends. PM2 counts restarts per process for the life of the process,
 * so the interval's are the difference; a process first seen in the later
 * list (started in the interval, or the first reading of a new canary) is
 * counted whole, and so is one whose count went down (PM2 counted afresh).
 * Process names carry their incarnation, so a restarted-from-scratch
 * process is a new name, never mistaken for the old one.
 */

export interface RestartReading {
  /** The PM2 name: `<service>@<version>#<index>[.<incarnation>]`. */
  id: string;
  /** The host whose PM2 listed it: the same name on two hosts is two processes. */
  host?: string;
  restarts: number;
}

const keyOf = (p: RestartReading): string => `${p.host ?? ''}\n${p.id}`;

export function restartsBetween(before: readonly RestartReading[] | undefined, now: readonly RestartReading[], service: string, version: string): number {
  const earlier = new Map((before ?? []).map((p) => [keyOf(p), p.restarts]));
  let total = 0;
  for (const p of now) {
    const parsed = parseProcessId(p.id);
    if (parsed === null || parsed.service !== service || parsed.version !== version) continue;
    const was = earlier.get(keyOf(p));
    total += was === undefined || p.restarts < was ? p.restarts : p.restarts - was;
  }
  return total;
}
