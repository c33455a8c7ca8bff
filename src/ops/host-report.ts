import { formatDuration } from '../core/duration.js';
import type { HostOutcome, StartOutcome, LaunchResult } from './launch-types.js';

/** One line for a host: its name, outcome, ports or reason, and how long it took. */
export function hostLine(h: HostOutcome): string {
  const ports = h.ports !== undefined && h.outcome === 'ready' ? ` on port${h.ports.length === 1 ? '' : 's'} ${h.ports.join(', ')}` : '';
  const synced = h.synced !== undefined && h.synced !== 'none' ? `, release copied by ${h.synced}` : '';
  const took = h.outcome === 'skipped' ? '' : ` (${formatDuration(h.ms)}${synced})`;
  const reason = h.reason !== undefined && h.outcome !== 'ready' ? ` — ${h.reason}` : '';
  const cleanup = h.cleanupError !== undefined ? `; ${h.cleanupError}: check it by hand` : '';
  return `${h.host} (${h.address}): ${h.outcome}${ports}${took}${reason}${cleanup}`;
}

function logTails(processes: StartOutcome[]): string[] {
  const lines: string[] = [];
  for (const o of processes) {
    if (o.outcome !== 'failed' || !o.log) continue;
    lines.push(`last lines of ${o.id}'s log on ${o.host}:`, ...o.log.split('\n').map((l) => `  | ${l}`));
  }
  return lines;
}

/** The per-host report of a start that did not fully succeed: a line a host, then the failed processes' logs. */
export function describeHosts(result: Pick<LaunchResult, 'hosts' | 'processes'>): string {
  return [...result.hosts.map((h) => `  ${hostLine(h)}`), ...logTails(result.processes)].join('\n');
}

/** Whether everything started for a failed deploy is gone (a cleanup may fail on an unreachable host). */
export function cleanedUp(result: Pick<LaunchResult, 'hosts'>): boolean {
  return result.hosts.every((h) => h.cleanupError === undefined);
}
