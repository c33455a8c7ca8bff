import { hostname, userInfo } from 'node:os';
import type { LoadedConfig } from '../config/load.js';
import type { Change } from '../core/policy-schema.js';
import type { ChangedBy } from '../core/rollout-schema.js';
import { FleetSet } from '../fleet/fleets.js';
import { systemClock, type OpsDeps } from '../ops/deps.js';
import { openNotifier } from '../ops/notifier.js';
import { newOwner, ownerAlive } from '../ops/owner.js';
import { changedBy } from '../protocol/events.js';
import type { Store } from '../store/store.js';
import type { Context } from './context.js';
import { createProgress, type Progress } from './progress.js';

/** How long a command waits, before it exits, for its webhook events to be delivered. */
const NOTIFY_FLUSH_MS = 3000;

/** Who runs this command: the CI system's run where there is one, else the user and host (events and rollouts carry it). */
export function commandBy(env: NodeJS.ProcessEnv): ChangedBy {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = env.USER ?? env.LOGNAME;
  }
  return changedBy(env, { user, host: hostname() });
}

/** The same, as a policy revision records it (`policy history`). */
export function revisionBy(by: ChangedBy): NonNullable<Change['by']> {
  const host = hostname().slice(0, 255);
  if (by.kind === 'user') return { ...(by.user === null ? {} : { user: by.user.slice(0, 128) }), host };
  const ci = [by.system, by.repository, by.run === null ? null : `run ${by.run}`, by.actor === null ? null : `by ${by.actor}`].filter((p) => p !== null).join(' ');
  return { ...(by.actor === null ? {} : { user: by.actor.slice(0, 128) }), host, ci: ci.slice(0, 512) };
}

export interface CommandOps {
  deps: OpsDeps;
  progress: Progress;
  /** Who runs this command. */
  by: ChangedBy;
  /** Releases the fleets' connections, stops the progress line, and gives queued webhook events a short while to go out. */
  close(): Promise<void>;
}

/**
 * The deps a command hands its operation: the project's store, its fleets
 * (`startDaemon` false for commands that only look, so no PM2 daemon is
 * started just to look), the system clock, this command as the claim
 * owner, progress on stderr, and the config's webhooks (`notify`), whose
 * secrets are read in the background so a command that tells nothing
 * never waits for them.
 */
export function commandOps(ctx: Context, loaded: LoadedConfig, store: Store, kind: string, opts: { startDaemon: boolean }): CommandOps {
  const fleets = new FleetSet(loaded.config, opts.startDaemon);
  const progress = createProgress({ json: ctx.out.json, tty: process.stderr.isTTY === true });
  const by = commandBy(ctx.env);
  const notifier = loaded.config.notify.length === 0 ? undefined : openNotifier(loaded.config.notify, ctx.env, by, (line) => ctx.out.warn(`notify: ${line}`));
  const deps: OpsDeps = {
    config: loaded.config,
    dir: loaded.dir,
    store,
    fleets,
    clock: systemClock,
    owner: newOwner(kind),
    by: revisionBy(by),
    ownerAlive,
    progress: { step: (m) => progress.step(m), done: (m) => progress.done(m), info: (m) => ctx.out.info(m), warn: (m) => ctx.out.warn(m) },
    ...(notifier === undefined ? {} : { notify: (event) => void notifier.then((n) => n?.notify(event)) }),
  };
  return {
    deps,
    progress,
    by,
    async close() {
      progress.stop();
      await fleets.closeAll();
      const n = await notifier?.catch(() => undefined);
      if (n === undefined) return;
      const left = await n.flush(NOTIFY_FLUSH_MS);
      if (left > 0) ctx.out.warn(`notify: ${left} webhook event${left === 1 ? '' : 's'} not delivered within ${NOTIFY_FLUSH_MS / 1000} s of the command's end: given up (the receiver is down or slow)`);
      n.stop();
    },
  };
}
