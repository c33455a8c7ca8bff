import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Fleet, FleetProcess } from '../../src/fleet/fleet.js';
import { newOwner, ownerAlive } from '../../src/ops/owner.js';
import { ReconcileLoop } from '../../src/control/reconcile-loop.js';
import { startHeartbeat, type Heartbeat } from '../../src/sdk/heartbeat.js';
import { deriveKey, signRequest } from '../../src/protocol/signing.js';
import { closeHttp, http } from '../helpers/http.js';
import { startInProcessRouter, type InProcessRouter } from '../helpers/inprocess-router.js';
import { policyOf, proc, service } from '../helpers/policy-builder.js';

/**
 * One process cannot speak for another (issue 12, attack 1): lobby@1.1.0#0,
 * holding only its own key, forges zero-terminal heartbeats with a huge seq
 * for lobby@1.0.0#0, which is draining and holds 3 terminals. A real router
 * (in process, real HTTP) with its drain controller running, over a fleet
 * double that records what it is asked to stop. The forgeries are refused
 * and counted; the tally, the zero streak and the process stay as they were.
 * Then the genuine process reports zero itself, and is retired: the
 * controller was live all along.
 */

const INTERVAL = 200;
const VICTIM = 'lobby@1.0.0#0';
const ATTACKER = 'lobby@1.1.0#0';
const POLICY = policyOf({
  lobby: service('1.1.0', [
    proc(VICTIM, 'draining', 7500, { since: '2026-11-25T10:00:00.000Z', drainDeadline: '2099-01-01T00:00:00.000Z' }),
    proc(ATTACKER, 'active', 7501),
  ]),
}, 2);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let on: InProcessRouter | undefined;
const stops: Array<() => unknown> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  await on?.stop();
  on = undefined;
});
afterAll(() => closeHttp());

async function metric(url: string, outcome: string): Promise<number> {
  const text = (await http(`${url}/metrics`)).text;
  const line = text.split('\n').find((l) => l.startsWith(`switchyard_heartbeats_total{outcome="${outcome}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('forged heartbeats', () => {
  it('signed with another process\'s key do not change the tally, and do not retire a process holding terminals', async () => {
    on = await startInProcessRouter(POLICY, { intervalMs: INTERVAL, staleAfter: 5 });
    const { router, url, secret } = on;
    const removed: string[] = [];
    // PM2 runs both: the target's process too (a drained version is kept while the target serves nowhere).
    const listed: FleetProcess[] = [VICTIM, ATTACKER].map((id) => ({ id, pid: 1, status: 'online', cpu: 0, memory: 0, uptimeMs: 1, restarts: 0 }));
    const fleet = { host: 'local', remove: async (id: string) => { removed.push(id); listed.splice(listed.findIndex((q) => q.id === id) >>> 0, 1); }, list: async () => [...listed], close: async () => undefined } as unknown as Fleet;
    const controller = new ReconcileLoop({
      store: on.store,
      tallies: router.state.tallies,
      fleets: { get: async () => fleet, require: async () => fleet },
      grace: { lobby: 2 },
      intervalMs: INTERVAL,
      self: newOwner('router'),
      ownerAlive,
      log: () => undefined,
    });
    controller.start();
    stops.push(() => controller.stop());

    // The genuine process, with its own key, as switchyard gives it.
    const held = new Map([['1.0.0', 3]]);
    const genuine: Heartbeat = startHeartbeat({ terminals: () => held, routerUrl: url, token: deriveKey(secret, VICTIM), service: 'lobby', version: '1.0.0', process: VICTIM, intervalMs: INTERVAL });
    stops.push(() => genuine.stop());
    await expect.poll(() => router.state.tallies.processView(VICTIM, performance.now()).terminals, { timeout: 10_000 }).toBe(3);

    const attackerKey = deriveKey(secret, ATTACKER);
    const wrongProcessBefore = await metric(url, 'wrong_process');
    const rejectedBefore = await metric(url, 'rejected');
    const answers = new Map<string, number>();
    let own = 0;
    let claimed = 0;
    // 2.5 s of forgeries: more than the grace (2 intervals) several times over, 5 per interval.
    const until = Date.now() + 2500;
    for (let k = 0; Date.now() < until && k < 200; k++) {
      const body = JSON.stringify({ service: 'lobby', version: '1.0.0', process: VICTIM, seq: 2e12 + k, terminals: {} });
      // Signed honestly as the attacker (its own key id), or claiming the victim's key id with the attacker's key.
      const keyId = k % 2 === 0 ? ATTACKER : VICTIM;
      if (keyId === ATTACKER) own++;
      else claimed++;
      const answer = await http(`${url}/v1/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json', ...signRequest(attackerKey, keyId, 'POST', '/v1/heartbeat', body) }, body });
      const reason = `${answer.status} ${answer.json<{ reason?: string }>().reason}`;
      answers.set(reason, (answers.get(reason) ?? 0) + 1);
      await sleep(INTERVAL / 5);
    }
    expect(Object.fromEntries(answers)).toEqual({ '401 wrong_process': own, '401 bad_signature': claimed });
    expect(await metric(url, 'wrong_process')).toBe(wrongProcessBefore + own);
    expect(await metric(url, 'rejected')).toBe(rejectedBefore + claimed);

    const now = performance.now();
    expect(router.state.tallies.processView(VICTIM, now)).toMatchObject({ stale: false, terminals: 3 });
    expect(router.state.tallies.zeroStreak(VICTIM, now)).toBe(0);
    expect(router.state.tallies.tally('lobby', now)).toEqual([{ version: '1.0.0', terminals: 3, share: 1 }]);
    expect(removed).toEqual([]);
    expect((await on.store.read()).services.lobby!.processes.find((p) => p.id === VICTIM)!.state).toBe('draining');

    // The genuine process reports zero: now it is drained and retired.
    held.clear();
    await expect.poll(() => removed, { timeout: 15_000 }).toEqual([VICTIM]);
    await expect.poll(async () => (await on!.store.read()).services.lobby!.processes.find((p) => p.id === VICTIM)!.state, { timeout: 15_000 }).toBe('retired');
  });

  it('a process may not report for another even with a valid seq, nor keep an empty version alive', async () => {
    on = await startInProcessRouter(POLICY, { intervalMs: INTERVAL, staleAfter: 5 });
    const { url, secret, router } = on;
    const body = JSON.stringify({ service: 'lobby', version: '1.0.0', process: VICTIM, seq: 1, terminals: { '1.0.0': 5 } });
    const answer = await http(`${url}/v1/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json', ...signRequest(deriveKey(secret, ATTACKER), ATTACKER, 'POST', '/v1/heartbeat', body) }, body });
    expect(answer.status).toBe(401);
    expect(answer.json()).toMatchObject({ error: 'unauthorized', reason: 'wrong_process', message: expect.stringContaining(ATTACKER) });
    expect(router.state.tallies.processView(VICTIM, performance.now())).toMatchObject({ ageMs: null, terminals: 0 });
    expect(router.state.tallies.tally('lobby', performance.now())).toEqual([]);
  });
});
