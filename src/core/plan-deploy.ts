import { usageError } from './errors.js';
import { processId } from './names.js';
import type { Policy } from './policy-schema.js';
import { isLiveState } from './policy-process-transitions.js';

export interface DeployHost {
  name: string;
  address: string;
}

export interface DeployPlanInput {
  service: string;
  version: string;
  hosts: DeployHost[];
  instances: number;
  ports: { from: number; to: number };
  script: string;
  cwd: string | undefined;
  policy: Policy;
}

export interface PlannedProcess {
  id: string;
  host: string;
  address: string;
  /** Free ports of the range on this host, in the order to try them. */
  candidatePorts: number[];
  script: string;
  cwd: string | undefined;
}

/** Replaces `{version}` in a script or cwd template. */
export function withVersion(template: string, version: string): string {
  return template.split('{version}').join(version);
}

/** Ports a host's live (not retired or failed) processes hold, across every service. */
export function portsInUse(policy: Policy, host: string): Set<number> {
  const used = new Set<number>();
  for (const service of Object.values(policy.services)) {
    for (const p of service.processes) if (p.host === host && isLiveState(p.state)) used.add(p.port);
  }
  return used;
}

/**
 * Plans the processes of a new version: one id per instance per host and,
 * for each, the ports of the service's range that the policy does not use.
 * Whether a port can really be bound is checked when the plan is applied.
 */
export function planDeploy(input: DeployPlanInput): PlannedProcess[] {
  const planned: PlannedProcess[] = [];
  input.hosts.forEach((host, hostIndex) => {
    const used = portsInUse(input.policy, host.name);
    const free: number[] = [];
    for (let port = input.ports.from; port <= input.ports.to; port += 1) if (!used.has(port)) free.push(port);
    if (free.length < input.instances) {
      throw usageError(
        'no_free_ports',
        `Host ${host.name} has ${free.length} free port${free.length === 1 ? '' : 's'} in ${input.ports.from}-${input.ports.to} for ${input.instances} instance${input.instances === 1 ? '' : 's'} of ${input.service}@${input.version}: widen services.${input.service}.ports, or retire an old version first.`,
      );
    }
    for (let i = 0; i < input.instances; i += 1) {
      planned.push({
        id: processId(input.service, input.version, hostIndex * input.instances + i),
        host: host.name,
        address: host.address,
        candidatePorts: free,
        script: withVersion(input.script, input.version),
        cwd: input.cwd === undefined ? undefined : withVersion(input.cwd, input.version),
      });
    }
  });
  return planned;
}
