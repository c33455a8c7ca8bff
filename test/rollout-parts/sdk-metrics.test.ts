import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startHeartbeat, type Heartbeat } from '../../src/sdk/heartbeat.js';
import { metricsSince } from '../../src/sdk/request-totals.js';

/**
 * The heartbeat SDK's `metrics` option: the app gives running totals, each
 * beat carries what they grew by since the last beat a router took, and a
 * beat no router took gives its counts back to the next. A local server
 * stands in for the router (the router's side is in
 * test/router/request-metrics.test.ts).
 */

interface Beat { seq: number; metrics?: { requests: number; errors: number } }

let server: Server | undefined;
let hb: Heartbeat | undefined;

afterEach(async () => {
  await hb?.stop().catch(() => undefined);
  hb = undefined;
  await new Promise((r) => (server === undefined ? r(undefined) : server.close(r)));
  server = undefined;
});

/** A stand-in router that records each beat's body and answers with the next status of `statuses` (then 204). */
async function fakeRouter(statuses: number[] = []): Promise<{ url: string; beats: Beat[] }> {
  const beats: Beat[] = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = statuses.shift() ?? 204;
      if (status === 204) beats.push(JSON.parse(Buffer.concat(chunks).toString()) as Beat);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, beats };
}

function start(url: string, metrics?: () => { requests: number; errors: number }, onError?: (e: Error) => void): Heartbeat {
  // A long interval: the test drives every beat itself.
  return startHeartbeat({
    routerUrl: url, token: 'k', service: 'lobby', version: '1.5.0', process: 'lobby@1.5.0#0', intervalMs: 60_000,
    terminals: () => ({ '1.5.0': 1 }), ...(metrics === undefined ? {} : { metrics }), ...(onError === undefined ? {} : { onError }),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('heartbeat metrics', () => {
  it('sends what the totals grew by since the last beat taken', async () => {
    const router = await fakeRouter();
    const totals = { requests: 10, errors: 1 };
    hb = start(router.url, () => ({ ...totals }));
    await sleep(200);
    totals.requests = 25;
    totals.errors = 3;
    await hb.beat();
    await hb.beat();
    expect(router.beats.map((b) => b.metrics)).toEqual([{ requests: 10, errors: 1 }, { requests: 15, errors: 2 }, { requests: 0, errors: 0 }]);
  });

  it('a beat no router took gives its counts to the next', async () => {
    const router = await fakeRouter([204, 400, 503]);
    const totals = { requests: 5, errors: 0 };
    hb = start(router.url, () => ({ ...totals }));
    await sleep(200);
    totals.requests = 12;
    expect(await hb.beat()).toBe(false);
    totals.requests = 20;
    expect(await hb.beat()).toBe(false);
    totals.requests = 21;
    expect(await hb.beat()).toBe(true);
    expect(router.beats.map((b) => b.metrics)).toEqual([{ requests: 5, errors: 0 }, { requests: 16, errors: 0 }]);
  });

  it('sends no metrics without the option, and a bad counter costs only the counters, not the beat', async () => {
    const router = await fakeRouter();
    hb = start(router.url);
    await sleep(200);
    expect(router.beats[0]).not.toHaveProperty('metrics');
    await hb.stop();
    const errors: string[] = [];
    hb = start(router.url, () => ({ requests: 1, errors: 2 }), (e) => errors.push(e.message));
    await sleep(200);
    // The first heartbeat's own beat and its stop() beat, then the second's first beat.
    expect(router.beats).toHaveLength(3);
    expect(router.beats[2]).not.toHaveProperty('metrics');
    expect(errors[0]).toContain('metrics() must return whole numbers {requests, errors} with errors <= requests');
  });
});

describe('metricsSince', () => {
  it.each([
    [{ requests: 10, errors: 2 }, { requests: 4, errors: 1 }, { requests: 6, errors: 1 }],
    [{ requests: 10, errors: 2 }, { requests: 0, errors: 0 }, { requests: 10, errors: 2 }],
    [{ requests: 3, errors: 0 }, { requests: 10, errors: 2 }, { requests: 3, errors: 0 }],
  ])('%j since %j is %j (totals that went down are sent whole)', (now, taken, expected) => {
    expect(metricsSince(now, taken)).toEqual(expected);
  });

  it.each([[{ requests: -1, errors: 0 }], [{ requests: 1.5, errors: 0 }], [{ requests: Number.NaN, errors: 0 }], [{ requests: 1, errors: 2 }]])('refuses %j', (now) => {
    expect(() => metricsSince(now, { requests: 0, errors: 0 })).toThrow(/whole numbers/);
  });
});
