import type { Policy } from '../../src/core/policy-schema.js';

/**
 * Process ids carry an incarnation (`lobby@1.0.0#0.g1`: slot 0, claimed by
 * generation 1) that depends on how many commits came before, so the remote
 * suites find a process by service, version and slot instead of spelling it.
 */
export function slotPattern(version: string, slot: number, service = 'lobby'): RegExp {
  return new RegExp(`^${escapeRegExp(service)}@${escapeRegExp(version)}#${slot}\\.g\\d+r[0-9a-f]+$`);
}

/** `s` matched literally inside a RegExp (ids hold '.'). */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

type Entry = Policy['services'][string]['processes'][number];

/** The newest incarnation of a slot in the policy (highest claiming generation), or undefined. */
export function inSlot(policy: Policy, version: string, slot: number, service = 'lobby'): Entry | undefined {
  const pattern = slotPattern(version, slot, service);
  const generation = (id: string) => Number(id.slice(id.lastIndexOf('.g') + 2));
  return (policy.services[service]?.processes ?? []).filter((p) => pattern.test(p.id)).sort((a, b) => generation(b.id) - generation(a.id))[0];
}

/** The newest incarnation of a slot, failing the test when the policy has none. */
export function mustInSlot(policy: Policy, version: string, slot: number, service = 'lobby'): Entry {
  const found = inSlot(policy, version, slot, service);
  if (found === undefined) throw new Error(`no ${service}@${version}#${slot}.g<n> in the policy: ${JSON.stringify(policy.services[service]?.processes.map((p) => [p.id, p.state]))}`);
  return found;
}
