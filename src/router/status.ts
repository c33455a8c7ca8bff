import type { Policy } from '../core/policy-schema.js';
import { pauseLeftMs } from '../core/rollout-schema.js';
import type { TallyBook } from '../core/tally.js';
import type { DataPlaneStatus, PolicyFileState, StatusBody, StatusService } from '../protocol/status-body.js';

export type { CoordinationStatus, DataPlaneStatus, RouterEntry, StatusBody, StatusProcess, StatusService } from '../protocol/status-body.js';

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
      ...(service.rollout === undefined ? {} : { rollout: { ...service.rollout, pauseLeftMs: pauseLeftMs(service.rollout, Date.now()) } }),
    };
  }
  // The built-in proxy routes by the policy the router holds, so it is always in step.
  const plane = dataPlane ?? { kind: 'builtin', generation: policy?.generation ?? null, ok: true, error: null };
  return { generation: policy?.generation ?? null, policy: file, dataPlane: plane, services };
}
