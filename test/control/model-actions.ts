import { deploy } from '../../src/ops/deploy.js';
import { drain, drainNow } from '../../src/ops/drain.js';
import { promote } from '../../src/ops/promote.js';
import { prune } from '../../src/ops/prune.js';
import { rollback } from '../../src/ops/rollback.js';
import { steerRollout, type SteerVerb } from '../../src/ops/rollout-steer.js';
import type { Role } from '../../src/ops/roles.js';
import { MODEL_PLAN, type Health } from './model-rollouts.js';
import type { WriteFault } from './model-store.js';
import type { World } from './model-world.js';

/** Where a command runs: its clock's skew, and whether on another host (its liveness unknown to the routers). */
export interface Placement {
  skewMs?: number;
  remote?: boolean;
}

export type Action =
  | ({ kind: 'deploy'; version: string; role: 'target' | 'active' | 'canary'; crash?: 'afterClaim' | 'afterStart' } & Placement)
  /** `deploy <version> --steps`: the version as the canary at the plan's first step, and the plan (MODEL_PLAN) started. */
  | ({ kind: 'deploySteps'; version: string; crash?: 'afterClaim' | 'afterStart' } & Placement)
  /** `rollout pause|resume|abort|promote`. */
  | ({ kind: 'steer'; verb: SteerVerb } & Placement)
  /** A pass of a router's rollout loop (only the lease holder's measures and commits). */
  | { kind: 'rolloutTick'; router?: number }
  /** An interval of a running router: every process beats, time moves on, the leader's rollout loop passes. */
  | { kind: 'interval' }
  /** What a version's traffic looks like from now on (without a version: the one being rolled out, if any). */
  | { kind: 'health'; version?: string; health: Health }
  | ({ kind: 'promote'; version: string } & Placement)
  | ({ kind: 'rollback'; version: string } & Placement)
  | ({ kind: 'drain'; version: string } & Placement)
  | ({ kind: 'drainNow'; version: string } & Placement)
  /** `status --prune` (deletes orphans seen twice; confirmed: also those of lost generations). */
  | { kind: 'prune'; confirmed?: boolean }
  | { kind: 'tick'; router?: number }
  /** Several passes a few ms apart (to race a command from start to end). */
  | { kind: 'ticks'; n: number; gapMs: number }
  /** With several routers: the leader's lease lapses and the next router takes a new one. */
  | { kind: 'failover'; afterMs?: number }
  | { kind: 'beat' }
  | { kind: 'connect'; n: number }
  | { kind: 'disconnect'; n: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'kill' }
  /** A process of the target dies (PM2 loses it): the loop starts a new incarnation in its place. */
  | { kind: 'killTarget' }
  /** A live process crashes and PM2 restarts it by itself, listed as restarting for `lists` lists. */
  | { kind: 'crash'; lists: number }
  /** The next store write misbehaves, the next read fails, or the next PM2 list is stale. */
  | { kind: 'fault'; fault: WriteFault | 'read' | 'staleList'; skip?: number }
  /** The store's head goes back `n` generations (a failover that lost commits, a restored backup). */
  | { kind: 'goBack'; n: number }
  | { kind: 'race'; a: Action; b: Action }
  /** Steps one after the other, as one action (a scenario a planted bug needs, drawn whole). */
  | { kind: 'seq'; steps: Action[] };

const TOKEN = 'a'.repeat(64);

function roleOf(kind: 'target' | 'active' | 'canary'): Role {
  return kind === 'canary' ? { kind: 'canary', weight: 20 } : { kind };
}

/** Plays one action on the world; every command goes through the shipped operation of its name. */
export async function performAction(world: World, action: Action): Promise<void> {
  const service = world.service;
  const place = (a: Placement) => ({ ...(a.skewMs === undefined ? {} : { skewMs: a.skewMs }), ...(a.remote === undefined ? {} : { remote: a.remote }) });
  switch (action.kind) {
    case 'race':
      await Promise.all([world.run(action.a), world.run(action.b)]);
      return;
    case 'seq':
      for (const step of action.steps) await world.run(step);
      return;
    case 'deploy':
      return world.command('deploy', { ...place(action), ...(action.crash === undefined ? {} : { crash: action.crash }) }, (deps) =>
        deploy(deps, { service, version: action.version, role: roleOf(action.role), token: TOKEN, env: {} }));
    case 'deploySteps': {
      const role: Role = { kind: 'rollout', plan: { id: `r${Math.random().toString(36).slice(2, 10)}`, steps: MODEL_PLAN, by: null } };
      return world.command('deploy', { ...place(action), ...(action.crash === undefined ? {} : { crash: action.crash }) }, (deps) =>
        deploy(deps, { service, version: action.version, role, token: TOKEN, env: {} }));
    }
    case 'steer':
      return world.command(`rollout-${action.verb}`, place(action), (deps) => steerRollout(deps, { service, verb: action.verb }));
    case 'rolloutTick':
      world.counts.rolloutTicks += 1;
      await (world.rolloutLoops[(action.router ?? world.lease.holder) % world.rolloutLoops.length] ?? world.rolloutLoops[0]!).tick();
      return;
    case 'interval':
      await world.beat();
      world.counts.rolloutTicks += 1;
      await world.rolloutLoops[world.lease.holder % world.rolloutLoops.length]!.tick();
      return;
    case 'health': {
      const version = action.version ?? (await world.store.peek()).services.lobby?.rollout?.version;
      if (version !== undefined) world.traffic.health.set(version, action.health);
      return;
    }
    case 'promote':
      return world.command('promote', place(action), (deps) => promote(deps, { service, version: action.version }));
    case 'rollback':
      return world.command('rollback', place(action), (deps) => rollback(deps, { service, to: action.version, token: TOKEN, env: {} }));
    case 'drain':
      return world.command('drain', place(action), (deps) => drain(deps, { service, version: action.version }));
    case 'drainNow':
      return world.command('drain', place(action), (deps) => drainNow(deps, { service, version: action.version, held: new Map(world.terminals) }));
    case 'prune':
      return world.command('prune', {}, async (deps) => {
        const result = await prune(deps, { remove: true, confirmed: action.confirmed === true, pauseMs: 2 });
        world.counts.pruned += result.deleted.length;
      });
    case 'tick':
      world.counts.ticks += 1;
      await (world.loops[(action.router ?? world.lease.holder) % world.loops.length] ?? world.loop).tick();
      return;
    case 'ticks':
      for (let i = 0; i < action.n; i += 1) {
        world.counts.ticks += 1;
        await world.loop.tick();
        await new Promise((r) => setTimeout(r, action.gapMs));
      }
      return;
    case 'failover':
      if (world.loops.length < 2) return;
      // Later, so that a pass racing it may already hold the old token.
      if (action.afterMs !== undefined) await new Promise((r) => setTimeout(r, action.afterMs));
      world.lease.holder = (world.lease.holder + 1) % world.loops.length;
      world.lease.token += 1;
      world.tokens.set(world.lease.holder, world.lease.token);
      world.counts.failovers += 1;
      return;
    case 'beat':
      return world.beat();
    case 'connect': {
      const head = await world.store.peek();
      const svc = head.services.lobby;
      const p = svc?.processes.find((e) => e.version === svc.target && e.state === 'active' && world.pm2.running.has(e.id));
      if (p !== undefined) world.terminals.set(p.id, (world.terminals.get(p.id) ?? 0) + action.n);
      return;
    }
    case 'disconnect':
      for (const [id, n] of world.terminals) world.terminals.set(id, Math.max(0, n - action.n));
      return;
    case 'advance':
      world.offset += action.ms;
      return;
    case 'kill': {
      const head = await world.store.peek();
      // A draining process dies: the loop must see it lost and retire it (an active one only alarms).
      const victim = head.services.lobby?.processes.find((p) => world.pm2.running.has(p.id) && p.state === 'draining');
      if (victim !== undefined) {
        world.killed.add(victim.id);
        await world.pm2.kill(victim.id);
      }
      return;
    }
    case 'killTarget': {
      const head = await world.store.peek();
      const svc = head.services.lobby;
      const victim = svc?.processes.find((p) => world.pm2.running.has(p.id) && p.state === 'active' && p.version === svc.target);
      if (victim !== undefined) {
        world.killed.add(victim.id);
        world.terminals.set(victim.id, 0);
        await world.pm2.kill(victim.id);
      }
      return;
    }
    case 'crash': {
      const head = await world.store.peek();
      const victims = head.services.lobby?.processes.filter((p) => world.pm2.running.has(p.id) && (p.state === 'active' || p.state === 'draining')) ?? [];
      const victim = victims[world.counts.actions % Math.max(1, victims.length)];
      if (victim !== undefined) {
        world.pm2Restarted.add(victim.id);
        world.pm2.crash(victim.id, action.lists);
      }
      return;
    }
    case 'fault':
      if (action.fault === 'read') world.store.readFaults += 1;
      else if (action.fault === 'staleList') world.pm2.staleLists += 1;
      else world.store.faults.push(...Array.from({ length: action.skip ?? 0 }, () => 'none' as const), action.fault);
      return;
    case 'goBack': {
      const head = await world.store.peek();
      await world.store.goBack(action.n);
      world.forgetAbove(Math.max(0, head.generation - action.n));
      return;
    }
  }
}

