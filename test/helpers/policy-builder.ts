import { parseProcessId } from '../../src/core/names.js';
import type { Policy, ProcessEntry, ProcessState, ServicePolicy } from '../../src/core/policy-schema.js';

/** Small policies for unit tests, frozen so that any mutation by the code under test throws. */

export const T0 = new Date('2026-11-25T10:00:00.000Z');
export const T1 = new Date('2026-11-25T11:00:00.000Z');
export const EARLIER = '2026-11-25T09:00:00.000Z';

export function proc(id: string, state: ProcessState, port: number, extra: Partial<ProcessEntry> = {}): ProcessEntry {
  const parsed = parseProcessId(id);
  if (parsed === null) throw new Error(`bad test id ${id}`);
  return { id, version: parsed.version, host: 'local', address: '127.0.0.1', port, state, since: EARLIER, ...extra };
}

export function service(target: string | null, processes: ProcessEntry[], extra: Partial<ServicePolicy> = {}): ServicePolicy {
  return { target, canary: null, match: 'exact', login: 'force', processes, ...extra };
}

export function policyOf(services: Record<string, ServicePolicy>, generation = 7): Policy {
  return deepFreeze({ schema: 1, generation, updatedAt: EARLIER, services });
}

/**
 * The fleet most tests start from. lobby: target 1.5.0 (two active), 1.4.0
 * draining, 1.6.0 active but not promoted, 1.7.0 starting, 1.3.0 retired,
 * 1.2.0 failed. chat: target 2.0.0 with one process.
 */
export function fleet(): Policy {
  return policyOf({
    lobby: service('1.5.0', [
      proc('lobby@1.5.0#0', 'active', 7501),
      proc('lobby@1.5.0#1', 'active', 7502),
      proc('lobby@1.4.0#0', 'draining', 7500, { drainDeadline: '2026-11-25T09:30:00.000Z' }),
      proc('lobby@1.6.0#0', 'active', 7503),
      proc('lobby@1.7.0#0', 'starting', 7504),
      proc('lobby@1.3.0#0', 'retired', 7499),
      proc('lobby@1.2.0#0', 'failed', 7498),
    ]),
    chat: service('2.0.0', [proc('chat@2.0.0#0', 'active', 7600)]),
  });
}

/** lobby with a single active target process, for the "last process" refusals. */
export function lonely(): Policy {
  return policyOf({
    lobby: service('1.5.0', [proc('lobby@1.5.0#0', 'active', 7501), proc('lobby@1.4.0#0', 'active', 7500)]),
  });
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** The processes of one service as `id → state`, for compact assertions. */
export function states(policy: Policy, svc = 'lobby'): Record<string, ProcessState> {
  return Object.fromEntries(policy.services[svc]!.processes.map((p) => [p.id, p.state]));
}
