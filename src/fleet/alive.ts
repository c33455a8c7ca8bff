import { mayBeUp } from '../core/pm2-health.js';
import type { ProcessEntry } from '../core/policy-schema.js';
import type { Fleets } from './fleets.js';


/**
 * Which of these entries PM2 really runs. A command that brings a version
 * back (promote, rollback, a redeploy of a draining version) asks first, so
 * it never sends logins to a process that died before the reconcile loop
 * noticed. A host that cannot be asked (unreachable, or no PM2 daemon
 * runs there, when nothing of the service runs either) is unknown, and its
 * entries are given the benefit of the doubt: the reconcile loop keeps
 * watching them, and status shows them as unknown.
 */
export async function liveInFleet(fleets: Fleets, entries: readonly ProcessEntry[]): Promise<{ live: ProcessEntry[]; dead: ProcessEntry[] }> {
  const hosts = [...new Set(entries.map((p) => p.host))];
  const seen = new Map<string, Map<string, string> | undefined>();
  await Promise.all(
    hosts.map(async (host) => {
      try {
        const fleet = await fleets.get(host);
        seen.set(host, fleet === undefined ? undefined : new Map((await fleet.list()).map((p) => [p.id, p.status])));
      } catch {
        seen.set(host, undefined);
      }
    }),
  );
  const live: ProcessEntry[] = [];
  const dead: ProcessEntry[] = [];
  for (const p of entries) {
    const list = seen.get(p.host);
    if (list === undefined || mayBeUp(list.get(p.id))) live.push(p);
    else dead.push(p);
  }
  return { live, dead };
}
