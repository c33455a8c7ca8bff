import { pm2Health } from '../core/pm2-health.js';
import { NO_DAEMON } from '../fleet/fleet-view.js';
import type { StatusBody, StatusProcess } from '../protocol/status-body.js';

/** Something in status that needs an operator: `status --check` exits 1 when there is any. */
export interface StatusProblem {
  kind: 'missing' | 'errored' | 'unknown' | 'orphan' | 'policy_broken' | 'policy_regressed' | 'router_down' | 'stale' | 'tally_not_shared' | 'no_leader' | 'data_plane';
  id?: string;
  host?: string;
  message: string;
}

const LIVE = new Set(['starting', 'active', 'draining', 'stopping']);

/** PM2's word on a live process: undefined when PM2 runs it, else what is wrong. */
export function pm2Problem(p: StatusProcess): { kind: 'missing' | 'errored' | 'unknown'; text: string } | undefined {
  if (!LIVE.has(p.state) || p.state === 'starting' || p.pm2 === undefined) return undefined;
  if (p.pm2 === null) return { kind: 'missing', text: 'missing in PM2' };
  const view = p.pm2 as { unreachable?: unknown; status?: unknown };
  if (typeof view.unreachable === 'string') return { kind: 'unknown', text: view.unreachable === NO_DAEMON ? 'unknown: no PM2 daemon runs' : `unknown: ${view.unreachable}` };
  if (pm2Health(String(view.status)) === 'gone') return { kind: 'errored', text: `${String(view.status)} in PM2` };
  return undefined;
}

export function statusProblems(body: StatusBody, opts: { routerUp: boolean; routerUrl: string; orphans: Array<{ host: string; id: string; lost?: boolean }> }): StatusProblem[] {
  const problems: StatusProblem[] = [];
  if (!opts.routerUp) problems.push({ kind: 'router_down', message: `the router is not answering at ${opts.routerUrl}` });
  if (body.policy.fileBroken) problems.push({ kind: 'policy_broken', message: `the policy file is broken (${body.policy.error ?? 'unreadable'}); the router serves generation ${body.generation ?? 'none'}, the last good one` });
  for (const alarm of body.alarms ?? []) problems.push({ kind: alarm.kind, message: alarm.message });
  // HAProxy behind the policy, refusing a command, or changed under the router and not repaired yet.
  if (body.dataPlane !== undefined && !body.dataPlane.ok) problems.push({ kind: 'data_plane', message: `the data plane (${body.dataPlane.kind}) is not in step with the policy: ${body.dataPlane.error ?? 'no reason given'}` });
  const c = body.coordination;
  if (c !== undefined && !c.ok) {
    const age = c.dataAgeMs === null ? 'never read' : `${Math.round(c.dataAgeMs / 100) / 10} s old`;
    problems.push({ kind: 'tally_not_shared', message: `the tally is not fleet-wide: Redis at ${c.redis} is not answering (${c.error ?? 'unknown'}); heartbeats sent to other routers are ${age}, and ${c.buffered} heartbeat${c.buffered === 1 ? ' waits' : 's wait'} to be shared` });
  }
  if (opts.routerUp && body.routers !== undefined && body.routers.length > 0 && !body.routers.some((r) => r.leader)) {
    problems.push({ kind: 'no_leader', message: `no router holds the drain leader's lease right now: drained versions are not retired until one does (it takes a few heartbeat intervals after a leader stops)` });
  }
  for (const svc of Object.values(body.services)) {
    for (const p of svc.processes) {
      const problem = pm2Problem(p);
      if (problem !== undefined) problems.push({ kind: problem.kind, id: p.id, host: p.host, message: `${p.id} on ${p.host} (${p.state}) is ${problem.text}` });
    }
  }
  for (const o of opts.orphans) {
    const how = o.lost === true ? 'it was claimed by a generation the store lost and may be serving terminals: `switchyard status --prune --yes` deletes it' : '`switchyard status --prune` deletes it';
    problems.push({ kind: 'orphan', id: o.id, host: o.host, message: `${o.id} runs in PM2 on ${o.host} but the policy does not name it (an orphan: ${how})` });
  }
  return problems;
}
