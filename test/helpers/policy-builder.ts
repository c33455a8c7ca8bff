import { parseProcessId } from '../../src/core/names.js';
import type { Policy, ProcessEntry, ProcessState, ServicePolicy } from '../../src/core/policy-schema.js';
import { claimStart, markActive, type NewProcess, type Owner } from '../../src/core/policy-transitions.js';

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

/** The owner of claims made by tests. */
export const OWNER: Owner = { id: 'test' };
/** The owner of the stopping claim in `fleet()`. */
export const ROUTER: Owner = { id: 'router-a', until: '2026-11-25T12:00:00.000Z' };

/** A process to claim the start of; the version is read from the id. */
export function np(id: string, port: number, host = 'local'): NewProcess {
  const parsed = parseProcessId(id);
  return { id, version: parsed?.version ?? id.split('@')[1]?.split('#')[0] ?? '', host, address: '127.0.0.1', port };
}

/** Claims the start of `processes` and marks them active, as a deploy that went well does. */
export function started(policy: Policy, svc: string, processes: readonly NewProcess[], now: Date, owner: Owner = OWNER): Policy {
  return markActive(claimStart(policy, svc, processes, owner, now), svc, processes.map((p) => p.id), now);
}

/**
 * The fleet most tests start from. lobby: target 1.5.0 (two active), 1.4.0
 * draining, 1.6.0 active but not promoted, 1.7.0 starting, 1.1.0 stopping
 * (claimed by router-a), 1.3.0 retired, 1.2.0 failed. chat: target 2.0.0
 * with one process.
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
      proc('lobby@1.1.0#0', 'stopping', 7497, { reason: 'drained', owner: ROUTER }),
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

/**
 * lobby with one process of version 1.9.0 (neither target nor canary) in
 * every state: `lobby@1.9.0#<i>` is in `EVERY_STATE[i]`.
 */
export const EVERY_STATE: readonly ProcessState[] = ['starting', 'active', 'draining', 'stopping', 'retired', 'failed'];
export function everyState(): Policy {
  return policyOf({
    lobby: service('1.5.0', [
      proc('lobby@1.5.0#0', 'active', 7501),
      ...EVERY_STATE.map((state, i) => proc(`lobby@1.9.0#${i}`, state, 7510 + i, state === 'starting' || state === 'stopping' ? { owner: ROUTER } : {})),
    ]),
  });
}

/**
 * Processes of the versions that take logins caught draining (a hand-edited
 * policy, or a decision made before a rollback): target 1.5.0 with one
 * active and one draining process, canary 1.4.0 likewise.
 */
export function servingDrained(): Policy {
  return policyOf({
    lobby: service('1.5.0', [
      proc('lobby@1.5.0#0', 'active', 7501),
      proc('lobby@1.5.0#1', 'draining', 7502),
      proc('lobby@1.4.0#0', 'active', 7503),
      proc('lobby@1.4.0#1', 'draining', 7504),
    ], { canary: { version: '1.4.0', weight: 10 } }),
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
