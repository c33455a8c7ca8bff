import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { closeHttp, http } from '../helpers/http.js';
import { startInProcessRouter, type InProcessRouter } from '../helpers/inprocess-router.js';
import { policyOf, proc, service } from '../helpers/policy-builder.js';
import { cliHeaders, heartbeatHeaders } from '../helpers/signed.js';
import type { StatusBody } from '../../src/protocol/status-body.js';

/**
 * Heartbeat ages on the router's monotonic clock: the wall clock (Date) of
 * the router's process jumps an hour forward and back, and a process that
 * just beat stays fresh; real time passing still makes it stale. The
 * router runs in this process so its Date can be moved; signatures follow
 * the same Date on both sides.
 */

const ID = 'lobby@1.5.0#0';
let on: InProcessRouter | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await on?.stop();
  on = undefined;
});
afterAll(() => closeHttp());

async function view(r: InProcessRouter) {
  const status = (await http(`${r.url}/v1/status`, { headers: cliHeaders(r.secret) })).json<StatusBody>();
  return status.services.lobby!.processes.find((p) => p.id === ID)!;
}

describe('staleness on a monotonic clock', () => {
  it('a wall-clock jump neither ages a fresh process nor freshens a silent one', async () => {
    on = await startInProcessRouter(policyOf({ lobby: service('1.5.0', [proc(ID, 'active', 7501)]) }, 1), { intervalMs: 500, staleAfter: 2 });
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const body = JSON.stringify({ service: 'lobby', version: '1.5.0', process: ID, seq: 1, terminals: { '1.5.0': 4 } });
    expect((await http(`${on.url}/v1/heartbeat`, { method: 'POST', headers: heartbeatHeaders(on.secret, body), body })).status).toBe(204);

    vi.setSystemTime(Date.now() + 3_600_000);
    const later = await view(on);
    expect(later.heartbeat.stale).toBe(false);
    expect(later.heartbeat.ageMs).toBeLessThan(1000);
    expect(later.terminals).toBe(4);

    vi.setSystemTime(Date.now() - 7_200_000);
    const earlier = await view(on);
    expect(earlier.heartbeat.stale).toBe(false);
    expect(earlier.heartbeat.ageMs).toBeGreaterThanOrEqual(0);

    // Real time still counts: silent past the window (1 s), it is stale, whatever Date says.
    await expect.poll(async () => (await view(on!)).heartbeat.stale, { timeout: 10_000, interval: 200 }).toBe(true);
    expect((await view(on)).heartbeat.ageMs).toBeGreaterThan(1000);
  });
});
