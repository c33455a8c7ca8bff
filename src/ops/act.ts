import type { Policy, ProcessEntry } from '../core/policy-schema.js';
import type { Fleet } from '../fleet/fleet.js';
import type { OpsDeps } from './deps.js';

/**
 * The executor's act step: a side effect on PM2 happens only when the
 * head, read again right before it, authorises it:
 *
 * - `start`: the head holds the process as `starting`, claimed by this owner;
 * - `stop`: the head holds it as `stopping`, claimed by this owner;
 * - `delete`: the head says it `failed` or was `retired` (the committed state is the claim);
 * - `delete-orphan`: no entry of the head names it (prune, after it was seen orphaned twice).
 *
 * A head that cannot be read authorises nothing, and neither does a lease
 * this owner no longer holds (asked again right before each PM2 call). One
 * result per item: a refusal says why.
 */
export type ActKind = 'start' | 'stop' | 'delete' | 'delete-orphan';

export interface ActItem<T> {
  service: string;
  id: string;
  host: string;
  kind: ActKind;
  run(fleet: Fleet): Promise<T>;
}

export type ActOutcome<T> =
  | { id: string; host: string; done: true; value: T }
  | { id: string; host: string; done: false; refused: boolean; reason: string };

function entryOf(head: Policy, service: string, id: string): ProcessEntry | undefined {
  return Object.hasOwn(head.services, service) ? head.services[service]!.processes.find((p) => p.id === id) : undefined;
}

function namedAnywhere(head: Policy, id: string): boolean {
  return Object.values(head.services).some((s) => s.processes.some((p) => p.id === id));
}

/** Why the head does not authorise this item, or undefined when it does. */
export function notAuthorised(head: Policy, ownerId: string, item: Pick<ActItem<unknown>, 'service' | 'id' | 'kind'>): string | undefined {
  if (item.kind === 'delete-orphan') return namedAnywhere(head, item.id) ? `the policy (generation ${head.generation}) names ${item.id} now` : undefined;
  const p = entryOf(head, item.service, item.id);
  if (p === undefined) return `the policy (generation ${head.generation}) does not name ${item.id}`;
  if (item.kind === 'delete') return p.state === 'failed' || p.state === 'retired' ? undefined : `${item.id} is ${p.state} in generation ${head.generation}`;
  const want = item.kind === 'start' ? 'starting' : 'stopping';
  if (p.state !== want) return `${item.id} is ${p.state} in generation ${head.generation}, not ${want}`;
  if (p.owner?.id !== ownerId) return `the claim on ${item.id} is held by ${p.owner?.id ?? 'nobody'} in generation ${head.generation}`;
  return undefined;
}

/** Runs the items the head authorises, all at once; never throws. */
export async function actAuthorised<T>(deps: Pick<OpsDeps, 'store' | 'fleets' | 'owner' | 'lease'>, items: readonly ActItem<T>[]): Promise<ActOutcome<T>[]> {
  if (items.length === 0) return [];
  let head: Policy;
  try {
    head = await deps.store.read();
  } catch (error) {
    const reason = `the policy could not be read (${(error as Error).message}), so nothing was done`;
    return items.map((i) => ({ id: i.id, host: i.host, done: false, refused: true, reason }));
  }
  const mayAct = () => deps.lease?.mayAct() ?? true;
  return Promise.all(items.map(async (item): Promise<ActOutcome<T>> => {
    const base = { id: item.id, host: item.host };
    const why = notAuthorised(head, deps.owner.id, item);
    if (why !== undefined) return { ...base, done: false, refused: true, reason: why };
    try {
      const fleet = await deps.fleets.get(item.host);
      if (fleet === undefined) return { ...base, done: false, refused: false, reason: `no PM2 daemon runs for host ${item.host}` };
      // The lease may have passed on while the fleet was reached: asked again right before PM2 is.
      if (!mayAct()) return { ...base, done: false, refused: true, reason: 'this router no longer holds the drain leader lease' };
      return { ...base, done: true, value: await item.run(fleet) };
    } catch (error) {
      return { ...base, done: false, refused: false, reason: (error as Error).message };
    }
  }));
}
