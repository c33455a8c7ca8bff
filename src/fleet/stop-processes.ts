import type { ProcessEntry } from '../core/policy-schema.js';
import type { Fleets } from './fleets.js';

export interface StopResult {
  id: string;
  host: string;
  stopped: boolean;
  reason?: string;
}

/**
 * Stops processes through their hosts' fleets, one result each: a host that
 * fails does not keep the others from being stopped.
 */
export async function stopProcesses(fleets: Fleets, processes: readonly ProcessEntry[]): Promise<StopResult[]> {
  return Promise.all(
    processes.map(async (p) => {
      try {
        await (await fleets.require(p.host)).remove(p.id);
        return { id: p.id, host: p.host, stopped: true };
      } catch (error) {
        return { id: p.id, host: p.host, stopped: false, reason: (error as Error).message };
      }
    }),
  );
}
