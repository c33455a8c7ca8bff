import { checkPolicy, type Policy, type PolicyInput } from '../../dist/core/policy-schema.js';

/**
 * Policies of a given size for the resolve benchmarks. A policy of P
 * processes has ceil(P / 100) services of up to 100 processes each; every
 * service runs its processes two per version (50 versions at 100
 * processes), the newest version is the target, the oldest fifth of the
 * versions are draining. Match rule `exact`, login `force`.
 */

export interface SizedPolicy {
  processes: number;
  policy: Policy;
  /** (service, version) pairs that resolve to a process. */
  served: Array<{ service: string; version: string; target: string }>;
}

const PER_SERVICE = 100;

function versionOf(v: number): string {
  return `${1 + Math.floor(v / 10)}.${v % 10}.0`;
}

export function sizedPolicy(total: number, firstPort = 10_000): SizedPolicy {
  const services: NonNullable<PolicyInput['services']> = {};
  const served: SizedPolicy['served'] = [];
  let port = firstPort;
  let left = total;
  for (let s = 0; left > 0; s++) {
    const name = `svc${s}`;
    const count = Math.min(PER_SERVICE, left);
    left -= count;
    const versions = Math.max(1, Math.ceil(count / 2));
    const target = versionOf(versions - 1);
    const processes: Array<{ id: string; version: string; address: string; port: number; state: 'active' | 'draining' }> = [];
    for (let i = 0; i < count; i++) {
      const v = Math.floor(i / 2);
      const version = versionOf(v);
      const draining = versions > 1 && v < Math.floor(versions / 5);
      processes.push({ id: `${name}@${version}#${i % 2}`, version, address: '127.0.0.1', port: port++, state: draining ? 'draining' : 'active' });
    }
    for (let v = 0; v < versions; v++) served.push({ service: name, version: versionOf(v), target });
    services[name] = { target, match: 'exact', login: 'force', processes };
  }
  return { processes: total, policy: checked({ schema: 1, generation: 0, services }), served };
}

export function checked(input: PolicyInput): Policy {
  const check = checkPolicy(input);
  if (!check.ok) throw new Error(`bench built an invalid policy: ${JSON.stringify(check.problems.slice(0, 3))}`);
  return check.policy;
}

/** The router's policy for the load rows: one service, one process, the backend. */
export function basePolicy(backendPort: number, extra: PolicyInput['services'] = {}): Policy {
  return checked({
    schema: 1,
    generation: 0,
    services: {
      bench: {
        target: '1.0.0',
        processes: [{ id: 'bench@1.0.0#0', version: '1.0.0', address: '127.0.0.1', port: backendPort, state: 'active' }],
      },
      ...extra,
    },
  });
}
