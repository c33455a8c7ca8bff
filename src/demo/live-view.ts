import chalk from 'chalk';
import type { StatusBody } from '../protocol/status-body.js';
import type { TerminalCounters } from './terminals.js';
import { describeCalls } from './tries.js';

function bar(share: number, width = 20): string {
  const filled = Math.round(share * width);
  return `${chalk.green('█'.repeat(filled))}${chalk.dim('░'.repeat(width - filled))}`;
}

/** One frame of the live tally: a table on a TTY, one line elsewhere. */
export function renderFrame(status: StatusBody | undefined, service: string, counters: TerminalCounters, elapsedMs: number, tty: boolean): string {
  const svc = status?.services[service];
  const seconds = (elapsedMs / 1000).toFixed(1);
  const totals = `${describeCalls(counters)}; sessions ${counters.sessionsCompleted} completed / ${counters.sessionsCutOff} cut off, upgrades ${counters.upgradesFollowed}`;
  if (svc === undefined) return tty ? `t=${seconds}s  waiting for the router…\n${totals}` : `t=${seconds}s waiting for the router; ${totals}`;
  const versions = [...new Set(svc.processes.filter((p) => p.state !== 'retired').map((p) => p.version))];
  const total = svc.processes.reduce((n, p) => n + (p.state === 'retired' ? 0 : p.terminals), 0);
  const rows = versions.map((version) => {
    const mine = svc.processes.filter((p) => p.version === version && p.state !== 'retired');
    const terminals = mine.reduce((n, p) => n + p.terminals, 0);
    const state = [...new Set(mine.map((p) => p.state))].join(',');
    return { version, state, terminals, share: total === 0 ? 0 : terminals / total };
  });
  if (!tty) {
    const parts = rows.map((r) => `${r.version} ${r.state} ${r.terminals} (${Math.round(r.share * 100)}%)`);
    return `t=${seconds}s target ${svc.target} | ${parts.join(' | ')} | ${totals}`;
  }
  const lines = [`t=${seconds}s  target ${chalk.bold(svc.target ?? '-')}   terminals per version (from heartbeats)`];
  for (const r of rows) {
    const state = r.state === 'draining' ? chalk.yellow(r.state) : chalk.green(r.state);
    lines.push(`  ${r.version.padEnd(8)} ${state.padEnd(18)} ${String(r.terminals).padStart(4)}  ${bar(r.share)} ${Math.round(r.share * 100)}%`);
  }
  lines.push(`  ${totals}`);
  return lines.join('\n');
}
