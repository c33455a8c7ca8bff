import { hostname, userInfo } from 'node:os';
import type { LoadedConfig } from '../config/load.js';
import type { Change } from '../core/policy-schema.js';
import { FleetSet } from '../fleet/fleets.js';
import { systemClock, type OpsDeps } from '../ops/deps.js';
import { newOwner, ownerAlive } from '../ops/owner.js';
import type { Store } from '../store/store.js';
import type { Context } from './context.js';
import { createProgress, type Progress } from './progress.js';

/** The user and host behind a change, or the CI job when a pipeline runs the command. */
export function changedBy(env: NodeJS.ProcessEnv): NonNullable<Change['by']> {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = env.USER ?? env.LOGNAME;
  }
  const ci = env.GITHUB_ACTIONS === 'true'
    ? `github ${env.GITHUB_REPOSITORY ?? ''} run ${env.GITHUB_RUN_ID ?? ''} by ${env.GITHUB_ACTOR ?? ''}`
    : env.GITLAB_CI === 'true'
      ? `gitlab ${env.CI_PROJECT_PATH ?? ''} job ${env.CI_JOB_ID ?? ''} by ${env.GITLAB_USER_LOGIN ?? ''}`
      : undefined;
  return { ...(user === undefined ? {} : { user: user.slice(0, 128) }), host: hostname().slice(0, 255), ...(ci === undefined ? {} : { ci: ci.slice(0, 512) }) };
}

export interface CommandOps {
  deps: OpsDeps;
  progress: Progress;
  /** Releases the fleets' connections and stops the progress line. */
  close(): Promise<void>;
}

/**
 * The deps a command hands its operation: the project's store, its fleets
 * (`startDaemon` false for commands that only look, so no PM2 daemon is
 * started just to look), the system clock, this command as the claim
 * owner, and progress on stderr.
 */
export function commandOps(ctx: Context, loaded: LoadedConfig, store: Store, kind: string, opts: { startDaemon: boolean }): CommandOps {
  const fleets = new FleetSet(loaded.config, opts.startDaemon);
  const progress = createProgress({ json: ctx.out.json, tty: process.stderr.isTTY === true });
  const deps: OpsDeps = {
    config: loaded.config,
    dir: loaded.dir,
    store,
    fleets,
    clock: systemClock,
    owner: newOwner(kind),
    by: changedBy(ctx.env),
    ownerAlive,
    progress: { step: (m) => progress.step(m), done: (m) => progress.done(m), info: (m) => ctx.out.info(m), warn: (m) => ctx.out.warn(m) },
  };
  return {
    deps,
    progress,
    async close() {
      progress.stop();
      await fleets.closeAll();
    },
  };
}
