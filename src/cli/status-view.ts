import chalk from 'chalk';
import { formatDuration } from '../core/duration.js';
import { compareVersionsDesc } from '../core/version.js';
import { NO_DAEMON } from '../fleet/fleet-view.js';
import type { StatusBody, StatusProcess } from '../protocol/status-body.js';
import { renderTable } from './table.js';
import { pm2Problem } from './status-problems.js';

const STATE_ORDER = ['active', 'starting', 'draining', 'stopping', 'failed', 'retired'];

function bar(share: number, width = 10): string {
  const filled = Math.round(share * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${Math.round(share * 100)}%`;
}

function pm2Field(p: StatusProcess, key: 'cpu' | 'memory'): number | undefined {
  const view = p.pm2 as Record<string, unknown> | null | undefined;
  const value = view?.[key];
  return typeof value === 'number' ? value : undefined;
}

/** The reason a process's host could not be asked, when status marked it so. */
function unreachable(p: StatusProcess): string | undefined {
  const view = p.pm2 as { unreachable?: unknown } | null | undefined;
  const why = view !== null && typeof view === 'object' && typeof view.unreachable === 'string' ? view.unreachable : undefined;
  // A host with no PM2 daemon answered: it is not cut off, it just runs nothing yet.
  return why === NO_DAEMON ? undefined : why;
}

function hostsCell(processes: StatusProcess[]): string {
  const hosts = [...new Set(processes.map((p) => p.host))].sort();
  return hosts
    .map((h) => (processes.some((p) => p.host === h && p.state !== 'retired' && unreachable(p) !== undefined) ? chalk.yellow(`${h} (unreachable)`) : h))
    .join(', ');
}

function heartbeatCell(processes: StatusProcess[]): string {
  const live = processes.filter((p) => p.state !== 'retired');
  if (live.length === 0) return '-';
  if (live.some((p) => p.heartbeat.stale)) {
    const seen = live.filter((p) => p.heartbeat.ageMs !== null);
    return chalk.yellow(seen.length === 0 ? 'never (stale)' : `stale (${formatDuration(Math.max(...seen.map((p) => p.heartbeat.ageMs!)))})`);
  }
  return formatDuration(Math.max(...live.map((p) => p.heartbeat.ageMs ?? 0)));
}

/** The people's view of status: per service, a row per version, then the tally vector. */
export function renderStatus(body: StatusBody, opts: { routerUp: boolean; showRetired: boolean }): string {
  const lines: string[] = [];
  const names = Object.keys(body.services);
  if (names.length === 0) return 'no services in the policy yet: run `switchyard deploy <version>`';
  const routers = body.routers ?? [];
  if (routers.length > 1 || body.coordination !== undefined) {
    const shown = routers.map((r) => `${r.url}${r.leader ? ' (leader)' : ''}${r.ageMs > 5000 ? chalk.yellow(` (last seen ${formatDuration(r.ageMs)} ago)`) : ''}`);
    lines.push(`routers: ${shown.join(', ') || '(none listed)'}`);
  }
  const drift = body.dataPlane?.drift;
  if (drift?.last != null) lines.push(`HAProxy drift: ${drift.found} found, ${drift.repaired} repaired; last at ${drift.last.at}: ${drift.last.what}${drift.last.repairedAt === null ? chalk.yellow(' (not repaired yet)') : ''}`);
  if (body.policy.fileBroken) lines.push(chalk.yellow(`the policy file is broken, so the router serves generation ${body.generation ?? '-'}, the last good one: ${body.policy.error ?? ''}`));
  for (const name of names) {
    const svc = body.services[name]!;
    const canary = svc.canary ? `, canary ${svc.canary.version} at ${svc.canary.weight}%` : '';
    lines.push(`${chalk.bold(name)}  target ${svc.target ?? '(none)'}${canary}  generation ${body.generation ?? '-'}`);
    const processes = svc.processes.filter((p) => opts.showRetired || p.state !== 'retired');
    const total = processes.reduce((n, p) => n + p.terminals, 0);
    const versions = [...new Set(processes.map((p) => p.version))].sort(compareVersionsDesc);
    const rows = versions.map((version) => {
      const mine = processes.filter((p) => p.version === version);
      const states = [...new Set(mine.map((p) => p.state))].sort((a, b) => STATE_ORDER.indexOf(a) - STATE_ORDER.indexOf(b));
      const down = new Map<string, number>();
      for (const p of mine) {
        const problem = pm2Problem(p);
        if (problem !== undefined) down.set(problem.text, (down.get(problem.text) ?? 0) + 1);
      }
      const stateCell = states.join(', ') + (down.size === 0 ? '' : chalk.red(` (${[...down].map(([text, n]) => `${n} ${text}`).join(', ')})`));
      const terminals = mine.reduce((n, p) => n + p.terminals, 0);
      const cpu = mine.map((p) => pm2Field(p, 'cpu')).filter((v) => v !== undefined);
      const memory = mine.map((p) => pm2Field(p, 'memory')).filter((v) => v !== undefined);
      return [
        version + (version === svc.target ? ' *' : ''),
        stateCell,
        `${mine.length}`,
        hostsCell(mine),
        opts.routerUp ? String(terminals) : '?',
        opts.routerUp ? bar(total === 0 ? 0 : terminals / total) : '?',
        opts.routerUp ? heartbeatCell(mine) : '?',
        cpu.length === 0 ? '-' : `${Math.round(cpu.reduce((a, b) => a + b, 0) * 10) / 10}%`,
        memory.length === 0 ? '-' : `${Math.round(memory.reduce((a, b) => a + b, 0) / 1048576)} MB`,
      ];
    });
    if (rows.length === 0) lines.push('  no processes');
    else lines.push(renderTable([['version', 'state', 'processes', 'hosts', 'terminals', 'share', 'heartbeat', 'cpu', 'memory'], ...rows], '  '));
    const cut = new Map<string, string>();
    for (const p of processes) {
      const why = p.state === 'retired' ? undefined : unreachable(p);
      if (why !== undefined && !cut.has(p.host)) cut.set(p.host, why);
    }
    for (const [host, why] of cut) lines.push(chalk.yellow(`  ${why.startsWith(`host ${host} `) ? why : `host ${host} is unreachable: ${why}`}`));
    if (opts.routerUp && svc.tally.length > 0) {
      lines.push(`  terminals by their version: ${svc.tally.map((t) => `${t.version} ${t.terminals} (${Math.round(t.share * 100)}%)`).join(', ')}`);
    }
    lines.push('');
  }
  return lines.join('\n').trimEnd();
}
