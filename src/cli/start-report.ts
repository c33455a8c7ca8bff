import type { StartOutcome } from '../ops/launch-types.js';

/** One line a process, and the log tail of each that failed, for the error message. */
export function describeFailures(outcomes: StartOutcome[]): string {
  const lines: string[] = [];
  for (const o of outcomes) {
    const where = o.port === null ? o.host : `${o.host}:${o.port}`;
    lines.push(`  ${o.id} (${where}): ${o.outcome}${o.reason ? ` — ${o.reason}` : ''}`);
  }
  for (const o of outcomes) {
    if (o.outcome !== 'failed' || !o.log) continue;
    lines.push(`last lines of ${o.id}'s log:`, ...o.log.split('\n').map((l) => `  | ${l}`));
  }
  return lines.join('\n');
}
