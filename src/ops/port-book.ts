import type { Config } from '../config/schema.js';
import { portsInUse } from '../core/plan-deploy.js';
import type { Policy } from '../core/policy-schema.js';

/**
 * Ports chosen by one deploy, shared by hosts that are one machine to a
 * terminal: every host without ssh is this machine, and remote hosts with the
 * same address cannot both answer on one port there (terminals are sent to
 * address:port). Hosts are probed in parallel, so a port is handed out here,
 * synchronously, once per machine.
 */
export class PortBook {
  private readonly reserved = new Map<string, Set<number>>();
  private readonly deployHosts: string[];

  constructor(
    private readonly config: Config,
    private readonly policy: Policy,
    hosts: readonly string[],
  ) {
    this.deployHosts = [...hosts];
  }

  private machine(host: string): string {
    const h = this.config.hosts[host];
    return h === undefined || h.local ? 'this machine' : `address ${h.address}`;
  }

  private siblings(host: string): string[] {
    const key = this.machine(host);
    return Object.keys(this.config.hosts).filter((other) => other !== host && this.machine(other) === key);
  }

  /** Hosts of this deploy on the same machine, this one included: how many ports it may lose to them. */
  sharers(host: string): number {
    const key = this.machine(host);
    return this.deployHosts.filter((h) => this.machine(h) === key).length;
  }

  /** The candidates minus ports that sibling hosts' live processes hold and ports already handed out. */
  candidatesFor(host: string, candidates: readonly number[]): number[] {
    const blocked = new Set(this.reserved.get(this.machine(host)) ?? []);
    for (const other of this.siblings(host)) for (const port of portsInUse(this.policy, other)) blocked.add(port);
    return candidates.filter((p) => !blocked.has(p));
  }

  /** Takes `count` of the bindable ports not yet handed out, or undefined when there are too few. */
  take(host: string, bindable: readonly number[], count: number): number[] | undefined {
    const key = this.machine(host);
    const mine = this.reserved.get(key) ?? new Set<number>();
    this.reserved.set(key, mine);
    const chosen = bindable.filter((p) => !mine.has(p)).slice(0, count);
    if (chosen.length < count) return undefined;
    for (const port of chosen) mine.add(port);
    return chosen;
  }
}
