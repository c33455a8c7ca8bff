import { Counter, Gauge, Registry } from 'prom-client';
import type { WebhookCounts } from '../coordination/webhooks.js';
import type { Policy } from '../core/policy-schema.js';
import type { TallyEntry } from '../core/tally.js';
import type { StatusAlarm } from '../protocol/status-body.js';
import { RequestMetrics } from './request-metrics.js';

/** A live process PM2 lacks or reports down, as the reconcile loop last saw it. */
export interface MissingView {
  service: string;
  version: string;
  takesLogins: boolean;
}

export interface MetricsSources {
  policy(): Policy | undefined;
  tally(service: string): TallyEntry[];
  /** Alarms that need an operator (a policy store that went back). */
  alarms(): readonly StatusAlarm[];
}

/**
 * The router's Prometheus metrics, on a registry of its own. Gauges that
 * mirror state (terminals, process states, generation) are computed when
 * scraped, so the request path only ever bumps counters.
 */
export class RouterMetrics {
  readonly registry = new Registry();
  readonly heartbeats: Counter<'outcome'>;
  readonly signedRefused: Counter<'endpoint' | 'reason'>;
  readonly decisions: Counter<'kind' | 'outcome'>;
  readonly policyLoadErrors: Counter;
  readonly drainCutOff: Counter<'service' | 'version'>;
  readonly retired: Counter<'service' | 'reason'>;
  private readonly missing: Gauge<'service' | 'version' | 'serving_logins'>;
  /** 1 while this router holds the drain leader's lease (always 1 for a router alone). */
  readonly leader: Gauge;
  /** Proxied requests and heartbeat-reported counters per version: /metrics and the rollout verdicts read them. */
  readonly requests = new RequestMetrics();

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.heartbeats = new Counter({ name: 'switchyard_heartbeats_total', help: 'Heartbeats received, by outcome (accepted; pending: from a process the policy does not name yet; out_of_order; seq_jump; invalid; rejected: unsigned or a bad signature; expired; replayed; too_many: its key used up its replay memory; wrong_process: signed by another process)', labelNames: ['outcome'], registers });
    this.signedRefused = new Counter({ name: 'switchyard_signed_requests_refused_total', help: 'Signed requests refused, by endpoint (heartbeat, status, metrics) and reason (unsigned, wrong_key, expired: timestamp outside the window either way, bad_signature, replayed, too_many: the key used up its replay memory, wrong_process)', labelNames: ['endpoint', 'reason'], registers });
    this.decisions = new Counter({ name: 'switchyard_routing_decisions_total', help: 'Routing decisions, by kind (login, resolve, proxy, websocket) and outcome', labelNames: ['kind', 'outcome'], registers });
    this.policyLoadErrors = new Counter({ name: 'switchyard_policy_load_errors_total', help: 'Policy files that could not be loaded (the last good one kept serving)', registers });
    this.drainCutOff = new Counter({ name: 'switchyard_drain_terminals_cut_off_total', help: 'Terminals still held by processes stopped at their drain deadline', labelNames: ['service', 'version'], registers });
    this.retired = new Counter({ name: 'switchyard_processes_retired_total', help: 'Processes stopped by the drain controller, by reason (drained, deadline)', labelNames: ['service', 'reason'], registers });

    this.requests.register(this.registry);
    this.leader = new Gauge({ name: 'switchyard_drain_leader', help: 'Whether this router runs the reconcile loop: 1 while it holds the drain leader lease (always 1 for a router alone)', registers });
    this.leader.set(1);
    this.missing = new Gauge({
      name: 'switchyard_processes_missing',
      help: 'Live processes of the policy that PM2 lacks or reports errored or stopped (an alarm when serving_logins is "true")',
      labelNames: ['service', 'version', 'serving_logins'],
      registers,
    });
    new Gauge({
      name: 'switchyard_policy_regressed',
      help: 'Whether the policy store went back (lost revisions) or a generation was rewritten, unacknowledged: 1 is an alarm (switchyard status says what to do)',
      registers,
      collect() {
        this.set(sources.alarms().some((a) => a.kind === 'policy_regressed') ? 1 : 0);
      },
    });
    new Gauge({
      name: 'switchyard_policy_generation',
      help: 'Generation of the policy the router is serving',
      registers,
      collect() {
        this.set(sources.policy()?.generation ?? -1);
      },
    });
    new Gauge({
      name: 'switchyard_processes',
      help: 'Processes in the policy, by service and state',
      labelNames: ['service', 'state'],
      registers,
      collect() {
        this.reset();
        const policy = sources.policy();
        if (policy === undefined) return;
        for (const [service, s] of Object.entries(policy.services)) {
          const counts = new Map<string, number>();
          for (const p of s.processes) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
          for (const [state, n] of counts) this.set({ service, state }, n);
        }
      },
    });
    new Gauge({
      name: 'switchyard_terminals',
      help: 'Terminals held, by service and terminal version (fresh heartbeats only)',
      labelNames: ['service', 'version'],
      registers,
      collect() {
        this.reset();
        const policy = sources.policy();
        if (policy === undefined) return;
        for (const service of Object.keys(policy.services)) {
          for (const entry of sources.tally(service)) this.set({ service, version: entry.version }, entry.terminals);
        }
      },
    });
  }

  /** Replaces the missing-process gauge with the reconcile loop's last look. */
  setMissing(missing: readonly MissingView[]): void {
    this.missing.reset();
    const counts = new Map<string, { labels: { service: string; version: string; serving_logins: string }; n: number }>();
    for (const m of missing) {
      const key = `${m.service}\n${m.version}\n${m.takesLogins}`;
      const entry = counts.get(key) ?? { labels: { service: m.service, version: m.version, serving_logins: String(m.takesLogins) }, n: 0 };
      entry.n += 1;
      counts.set(key, entry);
    }
    for (const { labels, n } of counts.values()) this.missing.set(labels, n);
  }

  /** Exports a webhook sender's counts (switchyard_webhook_*): call once, with the sender the host made. */
  watchWebhooks(counts: () => WebhookCounts): void {
    const registers = [this.registry];
    const counter = (name: string, help: string, pick: (c: WebhookCounts) => number) =>
      new Counter({ name, help, registers, collect() {
        this.reset();
        this.inc(pick(counts()));
      } });
    counter('switchyard_webhook_deliveries_total', 'Webhook deliveries a receiver took (2xx)', (c) => c.delivered);
    counter('switchyard_webhook_failures_total', 'Webhook deliveries given up: retried for the whole retry window, or refused with a 4xx', (c) => c.failed);
    counter('switchyard_webhook_retries_total', 'Webhook deliveries scheduled again after a failed attempt', (c) => c.retried);
    counter('switchyard_webhook_dropped_total', 'Webhook deliveries dropped, oldest first, because the queue was full', (c) => c.dropped);
    new Gauge({ name: 'switchyard_webhook_queued', help: 'Webhook deliveries waiting (in flight included)', registers, collect() {
      this.set(counts().queued);
    } });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
