import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { webhookTargets, WebhookSender, type WebhookOptions, type WebhookTarget } from '../../src/coordination/webhooks.js';
import { isSwitchyardError } from '../../src/core/errors.js';
import { makeEvent, verifyWebhookSignature, type EventType, type SwitchyardEvent } from '../../src/protocol/events.js';
import { RouterMetrics } from '../../src/router/metrics.js';
import { freePort } from '../helpers/free-port.js';

/**
 * The webhook sender against a real local receiver that checks every
 * signature: every event arrives, in order, per URL filter; with the
 * receiver down enqueue stays instant and retries are counted; a receiver
 * that comes back gets what was queued; the queue is bounded.
 */

const SECRET = 'hook-secret';

interface Received { path: string; event: SwitchyardEvent; signed: boolean; header: string | undefined }

let servers: Server[] = [];
let senders: WebhookSender[] = [];

afterEach(async () => {
  for (const s of senders) s.stop();
  senders = [];
  await Promise.all(servers.map((s) => new Promise((r) => {
    s.close(r);
    s.closeAllConnections();
  })));
  servers = [];
});

/** A receiver on `port` that records each POST and answers with `status(path)` (default 204). */
async function receiver(port: number, status: (path: string) => number | 'hang' = () => 204): Promise<Received[]> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const header = req.headers['x-switchyard-signature'] as string | undefined;
      got.push({ path: req.url ?? '', event: JSON.parse(raw.toString()) as SwitchyardEvent, signed: verifyWebhookSignature(SECRET, raw, header), header });
      const answer = status(req.url ?? '');
      if (answer !== 'hang') res.writeHead(answer).end();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  servers.push(server);
  return got;
}

function sender(targets: WebhookTarget[], options: WebhookOptions = {}): WebhookSender {
  const s = new WebhookSender(targets, { firstRetryMs: 50, maxBackoffMs: 200, ...options });
  senders.push(s);
  return s;
}

const TYPES: EventType[] = ['rollout.started', 'rollout.step', 'rollout.aborted', 'deploy', 'promote', 'retire'];
const event = (i: number, type = TYPES[i % TYPES.length]!) => makeEvent({ type, service: 'lobby', version: '1.6.0', step: i }, new Date(), `e${i}`);
const target = (port: number, path: string, events?: EventType[]): WebhookTarget => ({ url: `http://127.0.0.1:${port}${path}`, secret: SECRET, events });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('webhook delivery', () => {
  it('delivers every event, signed, in order, to each URL whose filter takes it', async () => {
    const port = await freePort();
    const got = await receiver(port);
    const s = sender([target(port, '/all'), target(port, '/aborts', ['rollout.aborted'])]);
    for (let i = 0; i < 24; i += 1) s.enqueue(event(i));
    expect(await s.flush(5000)).toBe(0);
    const all = got.filter((r) => r.path === '/all');
    const aborts = got.filter((r) => r.path === '/aborts');
    expect(all.map((r) => r.event.id)).toEqual(Array.from({ length: 24 }, (_, i) => `e${i}`));
    expect(aborts.map((r) => r.event.type)).toEqual(Array(4).fill('rollout.aborted'));
    expect(got.every((r) => r.signed)).toBe(true);
    expect(got[0]!.header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(s.counts()).toEqual({ delivered: 28, failed: 0, retried: 0, dropped: 0, queued: 0 });
  });

  it('with the receiver down, enqueue stays instant and retries are counted; when it comes back it gets every queued event', async () => {
    const port = await freePort();
    const s = sender([target(port, '/hook')]);
    const started = performance.now();
    for (let i = 0; i < 200; i += 1) s.enqueue(event(i));
    expect(performance.now() - started).toBeLessThan(50);
    await sleep(400);
    const down = s.counts();
    expect(down).toMatchObject({ delivered: 0, failed: 0, queued: 200 });
    expect(down.retried).toBeGreaterThanOrEqual(2);

    const got = await receiver(port);
    expect(await s.flush(10_000)).toBe(0);
    const ids = got.map((r) => r.event.id);
    expect(ids).toEqual(Array.from({ length: 200 }, (_, i) => `e${i}`));
    expect(got.every((r) => r.signed)).toBe(true);
    expect(s.counts()).toMatchObject({ delivered: 200, failed: 0, dropped: 0, queued: 0 });
  });

  it('keeps the queue bounded, dropping the oldest waiting delivery and counting it', async () => {
    const port = await freePort();
    const logs: string[] = [];
    const s = sender([target(port, '/hook')], { maxQueue: 5, log: (l) => logs.push(l) });
    for (let i = 0; i < 8; i += 1) s.enqueue(event(i));
    expect(s.counts()).toMatchObject({ queued: 5, dropped: 3 });
    expect(logs.filter((l) => l.includes('dropped'))).toHaveLength(3);
    const got = await receiver(port);
    expect(await s.flush(5000)).toBe(0);
    // The newest four always survive; the fifth is whichever was at the head.
    expect(got.map((r) => r.event.id).slice(-4)).toEqual(['e4', 'e5', 'e6', 'e7']);
    expect(got).toHaveLength(5);
  });

  it('retries 5xx and timeouts, gives up after the retry window, and never retries a 4xx refusal', async () => {
    const port = await freePort();
    const logs: string[] = [];
    await receiver(port, (path) => (path === '/refuse' ? 401 : path === '/hang' ? 'hang' : 503));
    const s = sender([target(port, '/refuse'), target(port, '/busy'), target(port, '/hang')], { retryForMs: 500, timeoutMs: 100, log: (l) => logs.push(l) });
    s.enqueue(event(0));
    expect(await s.flush(5000)).toBe(0);
    const c = s.counts();
    expect(c).toMatchObject({ delivered: 0, failed: 3, queued: 0 });
    expect(c.retried).toBeGreaterThanOrEqual(4);
    expect(logs.find((l) => l.includes('/refuse'))).toContain('refused rollout.started e0 with 401; check the receiver and its secret');
    expect(logs.filter((l) => l.includes('gave up rollout.started e0'))).toHaveLength(2);
  });

  it('flush returns what is left when its time runs out', async () => {
    const port = await freePort();
    const s = sender([target(port, '/hook')]);
    s.enqueue(event(0));
    s.enqueue(event(1));
    const started = performance.now();
    expect(await s.flush(300)).toBe(2);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('exports its counts on the router\'s /metrics', async () => {
    const port = await freePort();
    await receiver(port);
    const s = sender([target(port, '/hook')]);
    s.enqueue(event(0));
    s.enqueue(event(1));
    await s.flush(5000);
    const metrics = new RouterMetrics({ policy: () => undefined, tally: () => [], alarms: () => [] });
    metrics.watchWebhooks(() => s.counts());
    const text = await metrics.text();
    expect(text).toMatch(/^switchyard_webhook_deliveries_total 2$/m);
    expect(text).toMatch(/^switchyard_webhook_failures_total 0$/m);
    expect(text).toMatch(/^switchyard_webhook_retries_total 0$/m);
    expect(text).toMatch(/^switchyard_webhook_dropped_total 0$/m);
    expect(text).toMatch(/^switchyard_webhook_queued 0$/m);
  });
});

describe('webhookTargets', () => {
  it('reads each secret from its file (trimmed) or variable, and names every hook whose secret is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-hooks-'));
    try {
      await writeFile(join(dir, 'hook.secret'), 's3cret\n');
      await writeFile(join(dir, 'empty.secret'), '\n');
      const ok = await webhookTargets([
        { url: 'http://a/', secret: { file: join(dir, 'hook.secret') }, events: undefined },
        { url: 'http://b/', secret: { env: 'HOOK' }, events: ['deploy'] },
      ], { HOOK: 'envsecret' });
      expect(ok).toEqual([{ url: 'http://a/', secret: 's3cret', events: undefined }, { url: 'http://b/', secret: 'envsecret', events: ['deploy'] }]);

      const error = await webhookTargets([
        { url: 'http://a/', secret: { file: join(dir, 'missing.secret') }, events: undefined },
        { url: 'http://b/', secret: { env: 'NOPE' }, events: undefined },
        { url: 'http://c/', secret: { file: join(dir, 'empty.secret') }, events: undefined },
      ], {}).catch((e: unknown) => e);
      expect(isSwitchyardError(error) && error.exitCode).toBe(2);
      const message = (error as Error).message;
      expect(message).toContain(`notify[0].secretFile: ${join(dir, 'missing.secret')} cannot be read (ENOENT): write the hook's secret there, or use secretEnv`);
      expect(message).toContain('notify[1].secretEnv: NOPE is not set or empty');
      expect(message).toContain(`notify[2].secretFile: ${join(dir, 'empty.secret')} is empty`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
