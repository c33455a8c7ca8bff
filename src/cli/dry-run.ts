import type { ServiceConfig } from '../config/schema.js';
import { portsInUse } from '../core/plan-deploy.js';
import { describeChange, diffPolicies } from '../core/policy-diff.js';
import type { Policy } from '../core/policy-schema.js';
import { claimStart, markActive, type NewProcess } from '../core/policy-transitions.js';
import { processId } from '../core/names.js';
import { applyRole, type Role } from '../ops/roles.js';
import type { Context } from './context.js';

/**
 * What `--dry-run` prints: the processes a command would start and stop,
 * with hosts and ports, and the policy diff it would commit. It reads, and
 * changes nothing. Ports are the first free ones of the range by the policy
 * (the real run also checks that they can be bound).
 */
export function printDryRun(ctx: Context, input: { before: Policy; service: ServiceConfig; version: string; role: Role; hosts: readonly string[]; ports: number[] | undefined; now: Date; address(host: string): string }): void {
  const { before, service, version, role, hosts, now } = input;
  const generation = before.generation + 1;
  const start: NewProcess[] = [];
  let k = 0;
  hosts.forEach((host) => {
    const used = portsInUse(before, host);
    const free: number[] = [];
    for (let port = service.ports.from; port <= service.ports.to && free.length < service.instances; port += 1) if (!used.has(port)) free.push(port);
    const hostIndex = service.hosts.indexOf(host);
    for (let i = 0; i < service.instances; i += 1) {
      const port = input.ports?.[k] ?? free[i] ?? service.ports.from;
      k += 1;
      start.push({ id: processId(service.name, version, hostIndex * service.instances + i, `g${generation}`), version, host, address: input.address(host), port });
    }
  });
  let after = before;
  if (start.length > 0) {
    after = claimStart(after, service.name, start, { id: 'dry-run' }, now, { match: service.match, login: service.login });
    after = markActive(after, service.name, start.map((p) => p.id), now);
  }
  after = applyRole(after, service, version, role, now);
  printPlan(ctx, before, after, start);
}

/** The plan of a policy change: processes to start, to drain and to stop, and the diff. */
export function printPlan(ctx: Context, before: Policy, after: Policy, start: readonly NewProcess[]): void {
  const changes = diffPolicies(before, { ...after, generation: before.generation + 1 });
  const lines = changes.map(describeChange);
  if (start.length > 0) ctx.out.print(`would start:\n${start.map((p) => `  ${p.id} on ${p.host}, port ${p.port}`).join('\n')}`);
  ctx.out.print(lines.length === 0 ? 'the policy would not change' : `the policy would change (generation ${before.generation} → ${before.generation + 1}):\n${lines.map((l) => `  ${l}`).join('\n')}`);
  ctx.out.info('dry run: nothing was changed');
  ctx.out.result({ ok: true, dryRun: true, start, changes: lines, generation: before.generation, wouldWrite: lines.length > 0 ? before.generation + 1 : null });
}
