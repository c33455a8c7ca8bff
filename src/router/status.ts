import type { Policy } from '../core/policy-schema.js';
import type { TallyBook, TallyEntry } from '../core/tally.js';
import type { PolicyFileState } from './policy-watcher.js';
import type { RouterEntry } from '../coordination/router-registry.js';
import type { SharedTallyState } from '../coordination/shared-tally.js';

export type { RouterEntry } from '../coordination/router-registry.js';

/** With coordination on Redis: where the fleet-wide tally comes from, and how fresh it is. */
export interface CoordinationStatus extends SharedTallyState {
  /** The Redis URL, password hidden. */
  redis: string;
}

export interface StatusProcess {
  id: string;
  version: string;
  host: string;
  address: string;
  port: number;
  state: string;
  heartbeat: { ageMs: number | null; stale: boolean };
  terminals: number;
  /** PM2's view, when the router or the CLI could ask PM2. */
  pm2?: unknown;
}

export interface StatusService {
  target: string | null;
  canary: { version: string; weight: number } | null;
  processes: StatusProcess[];
  tally: TallyEntry[];
}

/** Who carries the terminals' traffic, and the policy generation it has fully applied. */
export interface DataPlaneStatus {
  kind: 'builtin' | 'haproxy';
  generation: number | null;
  ok: boolean;
  error: string | null;
}

export interface StatusBody {
  generation: number | null;
  policy: PolicyFileState;
  /** Absent when the status was read without a router (status offline). */
  dataPlane?: DataPlaneStatus;
  /** Every router serving this state; exactly one is the drain leader. Absent when read without a router. */
  routers?: RouterEntry[];
  /** Present when several routers share a state through Redis. */
  coordination?: CoordinationStatus;
  services: Record<string, StatusService>;
}

/** The status body of DESIGN.md, built from the live policy and the heartbeat tallies. */
export function buildStatus(policy: Policy | undefined, file: PolicyFileState, tallies: TallyBook, nowMs: number, dataPlane?: DataPlaneStatus): StatusBody {
  const services: Record<string, StatusService> = {};
  for (const [name, service] of Object.entries(policy?.services ?? {})) {
    services[name] = {
      target: service.target,
      canary: service.canary,
      processes: service.processes.map((p) => {
        const view = tallies.processView(p.id, nowMs);
        return {
          id: p.id,
          version: p.version,
          host: p.host,
          address: p.address,
          port: p.port,
          state: p.state,
          heartbeat: { ageMs: view.ageMs, stale: view.stale },
          terminals: view.terminals,
        };
      }),
      tally: tallies.tally(name, nowMs),
    };
  }
  // The built-in proxy routes by the policy the router holds, so it is always in step.
  const plane = dataPlane ?? { kind: 'builtin', generation: policy?.generation ?? null, ok: true, error: null };
  return { generation: policy?.generation ?? null, policy: file, dataPlane: plane, services };
}
