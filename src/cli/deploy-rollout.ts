import { randomBytes } from 'node:crypto';
import type { ServiceConfig } from '../config/schema.js';
import { isSwitchyardError } from '../core/errors.js';
import type { Rollout } from '../core/rollout-schema.js';
import type { Role } from '../ops/roles.js';
import type { ChangedBy } from '../core/rollout-schema.js';
import type { Store } from '../store/store.js';
import type { Context } from './context.js';
import { rolloutSteps, type DeployOptions } from './deploy-options.js';
import { defaultFollowMs, followRollout } from './rollout-follow.js';
import { rolloutView, verdictLine, type RolloutView } from './rollout-view.js';

/** The role of `deploy --steps`: the version as the canary at the first step's weight, and a new rollout of the plan. */
export function rolloutRole(steps: NonNullable<DeployOptions['steps']>, service: ServiceConfig, by: ChangedBy): Role {
  return { kind: 'rollout', plan: { id: `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`, steps: rolloutSteps(steps, service), by } };
}

/**
 * After `deploy --steps` committed its first step: says so, and with
 * --wait follows the plan the router runs until it completes (the result
 * gains the rollout), is aborted (`rollout_aborted`, exit 1, with the
 * reason and figures) or the time is up (`rollout_timeout`, exit 3; the
 * plan goes on). `deployed` is the deploy's own result, carried into the
 * error's details so a failing run still says what was deployed.
 */
export async function afterRolloutDeploy(ctx: Context, input: { store: Store; service: ServiceConfig; role: Role; rollout: Rollout | null; generation: number; wait: boolean; timeoutMs: number | undefined; deployed: Record<string, unknown> }): Promise<{ rollout: RolloutView | null; followedMs?: number }> {
  const { service, rollout } = input;
  if (input.role.kind !== 'rollout' || rollout === null) return { rollout: null };
  const view = rolloutView(service.name, rollout, input.generation, new Date());
  if (rollout.id !== input.role.plan.id) ctx.out.warn(`${service.name} was already rolling out ${rollout.version} (step ${view.step} of ${view.steps}, ${rollout.state}): that rollout goes on; no other was started`);
  else ctx.out.success(`rollout of ${service.name}@${rollout.version} started: plan ${view.plan}, step 1 (canary ${view.canary}%) committed in generation ${input.generation}; the router runs it`);
  if (!input.wait) return { rollout: view };
  const timeoutMs = input.timeoutMs ?? defaultFollowMs(rollout.steps, service.rollout.analysis);
  let step = 0;
  try {
    const followed = await followRollout({
      store: input.store, service: service.name, id: rollout.id, timeoutMs,
      onChange: (v) => {
        if (v.step !== step) ctx.out.info(`… step ${v.step} of ${v.steps}: canary ${v.canary}%`);
        step = v.step;
        const last = v.verdicts.at(-1);
        if (last !== undefined) ctx.out.info(`  ${verdictLine(last)}`);
      },
      onReadError: (m) => ctx.out.warn(m),
    });
    ctx.out.success(`rollout of ${service.name}@${rollout.version} completed: ${followed.view.reason ?? ''}`);
    return { rollout: followed.view, followedMs: followed.waitedMs };
  } catch (error) {
    if (isSwitchyardError(error)) throw Object.assign(error, { details: { ...(error.details ?? {}), deployed: input.deployed } });
    throw error;
  }
}
