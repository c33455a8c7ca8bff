import type { NotifyTarget } from '../config/rollout-config.js';
import { isSwitchyardError } from '../core/errors.js';
import type { ChangedBy } from '../core/rollout-schema.js';
import { WebhookSender, webhookTargets, type WebhookCounts, type WebhookOptions, type WebhookTarget } from '../coordination/webhooks.js';
import { EVENT_TYPES, makeEvent, type EventType } from '../protocol/events.js';
import type { OpsEvent } from './deps.js';

/**
 * Where operations' events go (`deps.notify`): each becomes one signed
 * webhook event (protocol/events.ts) queued on a WebhookSender, which
 * posts in the background, so telling never waits on a receiver. Events
 * carry who started the change: the event's own `by` (a rollout's moves
 * carry who started the rollout), else whoever runs this process.
 */
export class Notifier {
  constructor(private readonly sender: WebhookSender, private readonly by: ChangedBy, private readonly now: () => Date = () => new Date()) {}

  readonly notify = (e: OpsEvent): void => {
    if (!(EVENT_TYPES as readonly string[]).includes(e.type)) return;
    this.sender.enqueue(makeEvent({
      type: e.type as EventType,
      service: e.service,
      version: e.version,
      from: e.from ?? null,
      step: e.step ?? null,
      canary: e.canary ?? null,
      generation: e.generation,
      reason: e.reason ?? null,
      metrics: e.metrics ?? null,
      by: e.by ?? this.by,
    }, this.now()));
  };

  counts(): WebhookCounts {
    return this.sender.counts();
  }

  /** Waits up to `timeoutMs` for queued events to be delivered (or given up); how many are left. */
  flush(timeoutMs: number): Promise<number> {
    return this.sender.flush(timeoutMs);
  }

  stop(): void {
    this.sender.stop();
  }
}

/**
 * A notifier for the config's `notify` hooks, or undefined when there are
 * none. A hook whose secret cannot be read is left out and said (`warn`):
 * a missing secret must not stop a deploy or a router, and every other
 * hook still gets its events.
 */
export async function openNotifier(notify: readonly NotifyTarget[], env: Readonly<Record<string, string | undefined>>, by: ChangedBy, warn: (line: string) => void, options: WebhookOptions = {}): Promise<Notifier | undefined> {
  if (notify.length === 0) return undefined;
  const targets: WebhookTarget[] = [];
  for (const [i, hook] of notify.entries()) {
    try {
      targets.push(...(await webhookTargets([hook], env)));
    } catch (error) {
      if (!isSwitchyardError(error)) throw error;
      warn(`${error.message.replace(/^notify\[0\]/, `notify[${i}]`)}; events are not posted to ${hook.url} until then`);
    }
  }
  return targets.length === 0 ? undefined : new Notifier(new WebhookSender(targets, { log: warn, ...options }), by);
}
