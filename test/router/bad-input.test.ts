import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllBackends, startBackend, type BackendServer } from '../helpers/backends.js';
import { heartbeatSpec, hugeSpec, loginSpec, proxiedSpec, resolveSpec, type Spec } from '../helpers/bad-requests.js';
import { crlf, describeSpec, rawSpec, sendAll, summarise } from '../helpers/bad-requests-wire.js';
import { closeHttp, http, rawRequest } from '../helpers/http.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';

/**
 * Thousands of generated bad requests against a real proxy-mode router:
 * every one must be answered with a 4xx JSON error {error, message}, none
 * with a 5xx, none left hanging, and the router must still be healthy after.
 * Generated with fast-check from a fixed seed (FC_SEED overrides it), so a
 * failure names a reproducible case. The generators are
 * test/helpers/bad-requests*.ts (test/reliability/bad-input.test.ts sends
 * more of them).
 */

const SEED = Number(process.env.FC_SEED ?? 20261125);
const MAX_BODY = 8192;
/** The router's header limit (router.ts MAX_HEADER_BYTES). */
const MAX_HEADER_BYTES = 16 * 1024;

let router: RouterProcess;
let backend: BackendServer;
let chat: BackendServer;

beforeAll(async () => {
  [backend, chat] = await Promise.all([startBackend({ version: '1.5.0' }), startBackend({ service: 'chat', version: '2.0.0' })]);
  router = await startRouter({
    mode: 'proxy',
    maxBodyBytes: MAX_BODY,
    policy: buildPolicy(
      {
        lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: backend.port }, { version: '1.4.0', port: backend.port, state: 'draining' }] },
        chat: { target: '2.0.0', processes: [{ version: '2.0.0', port: chat.port }] },
      },
      1,
    ),
  });
});

const userPm2HomeUntouched = guardUserPm2Home();

afterAll(async () => {
  await stopAllRouters();
  await closeAllBackends();
  await closeHttp();
  userPm2HomeUntouched();
});

describe('bad input', () => {
  it('answers every generated bad request with a 4xx JSON error and stays healthy', async () => {
    const started = Date.now();
    const sample = <T>(arb: fc.Arbitrary<T>, numRuns: number, offset: number) => fc.sample(arb, { numRuns, seed: SEED + offset });
    const httpSpecs: Spec[] = [
      ...sample(loginSpec, 550, 1),
      ...sample(resolveSpec, 350, 2),
      ...sample(heartbeatSpec(() => router.token), 550, 3),
      ...sample(proxiedSpec, 500, 4),
      ...sample(hugeSpec(MAX_BODY, () => router.token), 80, 5),
    ];
    const rawSpecs = sample(rawSpec(MAX_HEADER_BYTES), 300, 6);

    const [httpOutcomes, rawOutcomes] = await Promise.all([sendAll(router, httpSpecs, 8), sendAll(router, rawSpecs, 4)]);
    const outcomes = [...httpOutcomes, ...rawOutcomes];
    const failed = outcomes.filter((o) => o.problem !== undefined);
    const summary = summarise(outcomes);

    const health = await router.health(5_000);
    const healthy = health?.ok === true && router.alive();
    console.log(`bad input: ${outcomes.length} requests, ${failed.length === 0 ? 'all 4xx JSON' : `${failed.length} NOT 4xx JSON`}, router ${healthy ? 'healthy' : 'NOT healthy'} (seed ${SEED}, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    console.log(`bad input by kind (status×count): ${summary}`);

    expect(failed.slice(0, 15).map((o) => `${o.problem}\n    for ${describeSpec(o.spec)}`)).toEqual([]);
    expect(outcomes.length).toBeGreaterThanOrEqual(2000);
    expect(healthy).toBe(true);
    expect(router.stderr()).not.toContain('internal error');
    // And it still routes good traffic.
    const good = await http(`${router.url}/page`, { headers: { 'x-switchyard-version': '1.5.0', 'x-switchyard-service': 'lobby' } });
    expect(good.status).toBe(200);
  });

  it('draws the 431 line at the header limit', async () => {
    // Find the largest header value still accepted, then check one byte more is 431.
    const head = (n: number) => Buffer.from(crlf(['GET /page HTTP/1.1', 'Host: x', `x-big: ${'c'.repeat(n)}`, 'Connection: close']));
    let low = 1000;
    let high = MAX_HEADER_BYTES + 100;
    expect((await rawRequest(router.host, router.port, head(low))).status).toBe(400);
    expect((await rawRequest(router.host, router.port, head(high))).status).toBe(431);
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      const { status } = await rawRequest(router.host, router.port, head(mid));
      expect([400, 431]).toContain(status);
      if (status === 431) high = mid;
      else low = mid;
    }
    const under = await rawRequest(router.host, router.port, head(low));
    const over = await rawRequest(router.host, router.port, head(high));
    expect(under.status).toBe(400);
    expect(under.json()).toMatchObject({ error: 'version_required' });
    expect(over.status).toBe(431);
    expect(over.json()).toMatchObject({ error: 'headers_too_large', message: expect.stringContaining(String(MAX_HEADER_BYTES)) });
    // The whole head at the line is about the documented limit.
    expect(head(high).length).toBeGreaterThan(MAX_HEADER_BYTES - 100);
    expect(head(high).length).toBeLessThan(MAX_HEADER_BYTES + 200);
    expect((await router.health())?.ok).toBe(true);
  });
});
