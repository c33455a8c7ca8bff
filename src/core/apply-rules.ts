import { isLiveState } from './policy-process-transitions.js';
import type { Policy, ProcessEntry, ProcessState } from './policy-schema.js';

/**
 * The transition rules a hand-written policy (`policy apply`, `policy
 * validate`) is held to against the live one: the same state machine
 * every command follows, and the promises that keep terminals served. Each
 * refusal names the change.
 */
export interface ApplyRefusal {
  service: string;
  id?: string;
  rule: 'drops_live_process' | 'no_live_process' | 'brought_back' | 'moved_live_process' | 'port_shared' | 'invalid_transition';
  message: string;
}

/** Every state change a command can make (DESIGN.md: starting → active → draining → stopping → retired, or failed). */
const NEXT: Record<ProcessState, readonly ProcessState[]> = {
  starting: ['active', 'failed'],
  active: ['draining', 'stopping'],
  draining: ['active', 'stopping'],
  stopping: ['retired'],
  retired: [],
  failed: [],
};

function byId(policy: Policy, service: string): Map<string, ProcessEntry> {
  return new Map((Object.hasOwn(policy.services, service) ? policy.services[service]!.processes : []).map((p) => [p.id, p]));
}

export function applyRefusals(before: Policy, after: Policy): ApplyRefusal[] {
  const out: ApplyRefusal[] = [];
  const services = new Set([...Object.keys(before.services), ...Object.keys(after.services)]);
  for (const service of services) {
    const was = byId(before, service);
    const now = byId(after, service);
    for (const [id, p] of was) {
      const q = now.get(id);
      if (q === undefined) {
        if (isLiveState(p.state)) out.push({ service, id, rule: 'drops_live_process', message: `${id} is ${p.state} and would be dropped from the policy: a live process is retired by draining it, never by forgetting it` });
        continue;
      }
      if (q.state !== p.state && !NEXT[p.state].includes(q.state)) {
        const back = !isLiveState(p.state) || p.state === 'stopping';
        out.push(back
          ? { service, id, rule: 'brought_back', message: `${id} is ${p.state} and would become ${q.state}: a stopped process is never brought back; deploy the version to start a new one` }
          : { service, id, rule: 'invalid_transition', message: `${id} would go from ${p.state} to ${q.state}, which no command does (allowed from ${p.state}: ${NEXT[p.state].join(', ') || 'nothing'})` });
      }
      if (isLiveState(p.state) && isLiveState(q.state) && (p.host !== q.host || p.address !== q.address || p.port !== q.port)) {
        out.push({ service, id, rule: 'moved_live_process', message: `${id} runs on ${p.host} at ${p.address}:${p.port}; the policy would say ${q.host} at ${q.address}:${q.port}: a running process cannot move, deploy a new one there instead` });
      }
    }
    for (const [id, q] of now) {
      // A new entry may adopt a process that runs already (a hand-written policy); a claim needs the command that holds it.
      if (!was.has(id) && (q.state === 'starting' || q.state === 'stopping')) {
        out.push({ service, id, rule: 'invalid_transition', message: `${id} is new and ${q.state}: a claim is made by the command that acts on it (\`switchyard deploy\`, \`drain --now\`), never by hand` });
      }
    }
    const svc = Object.hasOwn(after.services, service) ? after.services[service]! : undefined;
    if (svc === undefined) continue;
    const serving = (version: string) => svc.processes.some((p) => p.version === version && p.state === 'active');
    if (svc.target !== null && !serving(svc.target)) out.push({ service, rule: 'no_live_process', message: `the target ${svc.target} would have no active process: every login would fail` });
    if (svc.canary !== null && !serving(svc.canary.version)) out.push({ service, rule: 'no_live_process', message: `the canary ${svc.canary.version} would have no active process: its share of logins would fail` });
  }
  const held = new Map<string, string>();
  for (const [service, svc] of Object.entries(after.services)) {
    for (const p of svc.processes) {
      if (!isLiveState(p.state)) continue;
      const key = `${p.host}:${p.port}`;
      const other = held.get(key);
      if (other !== undefined) out.push({ service, id: p.id, rule: 'port_shared', message: `${p.id} and ${other} would both hold port ${p.port} on host ${p.host}` });
      else held.set(key, p.id);
    }
  }
  return out;
}
