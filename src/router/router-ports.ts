import type { WebhookCounts } from '../coordination/webhooks.js';
import type { Heartbeat } from '../core/heartbeat.js';
import type { Policy } from '../core/policy-schema.js';
import type { TallyBook } from '../core/tally.js';
import type { CoordinationStatus, DataPlaneStatus, RouterEntry, StatusAlarm, StatusBody } from '../protocol/status-body.js';

/**
 * What a router is connected to, given to its constructor by src/host/.
 * Each is optional: a router built with none (tests, a bare router) serves
 * from its own policy source with the built-in proxy, alone.
 */
export interface RouterPorts {
  /** The tally book, when others (the reconcile loop, the shared tally) hold it too. */
  tallies?: TallyBook;
  /** Adds what only others know to the status body (PM2's view of each process). */
  statusExtras?(body: StatusBody): Promise<StatusBody>;
  /** An external data plane (HAProxy): told of each loaded policy, asked what it applied and how it is. */
  dataPlane?: {
    policyLoaded(policy: Policy): void;
    /** The policy it routes by now; undefined until it applied one. */
    applied(): Policy | undefined;
    status(): DataPlaneStatus;
  };
  /** The routers serving this state (from Redis, with coordination); without it, this one as the leader. */
  routers?(): Promise<RouterEntry[]>;
  coordination?(): CoordinationStatus | undefined;
  /** Told of every heartbeat the tally accepted (several routers share them through Redis). */
  onAccepted?(hb: Heartbeat, nowMs: number): void;
  /** Processes the reconcile loop found down in PM2: never chosen while another of their version is live. */
  unavailable?(id: string): boolean;
  /** Alarms others found (the reconcile loop: running processes named by generations the store lost). */
  alarms?(): StatusAlarm[];
  /** The webhook sender's counts, exported in /metrics (switchyard_webhook_*), when the config names hooks. */
  webhooks?(): WebhookCounts;
}
