import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { Policy } from '../../src/core/policy-schema.js';
import { Router } from '../../src/router/router.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { tempDir } from '../helpers/cli.js';
import { buildPolicy } from '../helpers/router-process.js';

/**
 * Router.closeSessions (issue 20): at a drain deadline the built-in proxy
 * closes a process's WebSocket sessions itself, with close code 1012 and a
 * reason to the terminal and to the process, paced evenly. A real router in
 * this process (proxy mode) in front of a `ws` server that records how each
 * session was closed on its side; terminals are `ws` clients.
 */

const PROCESS = 'lobby@1.4.0#0';
const REASON = 'lobby 1.4.0 is retiring: log in again';
const BIG = 4 * 1024 * 1024;

interface ServerSide { closes: Array<{ code: number; reason: string }>; server: Server; wss: WebSocketServer; port: number; big: Buffer }
let backend: ServerSide;
let router: Router;
let routerUrl: string;
let cleanup: () => Promise<void>;

async function startWsBackend(): Promise<ServerSide> {
  const closes: ServerSide['closes'] = [];
  const big = randomBytes(BIG);
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer((_req, res) => res.writeHead(200).end('ok'));
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString() }));
      ws.on('message', (data) => ws.send(String(data) === 'big' ? big : `echo:${String(data)}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { closes, server, wss, port: (server.address() as AddressInfo).port, big };
}

beforeAll(async () => {
  backend = await startWsBackend();
  const temp = await tempDir('sy-close-sessions-');
  const store = new PolicyStore(temp.dir);
  await store.init();
  const policy = buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.4.0', port: backend.port, state: 'draining' }, { version: '1.5.0', port: 1 }] } }, 1);
  await store.write(policy as Policy, (await store.read()).generation);
  router = new Router({
    stateDir: temp.dir, host: '127.0.0.1', port: 0, mode: 'proxy', heartbeatIntervalMs: 1000, staleAfter: 3,
    versionHeader: 'x-switchyard-version', serviceHeader: 'x-switchyard-service', maxBodyBytes: 65_536,
    token: randomBytes(32).toString('hex'), policyPollMs: 100, shutdownGraceMs: 500, log: () => undefined,
  });
  const { port } = await router.start();
  routerUrl = `ws://127.0.0.1:${port}`;
  cleanup = async () => {
    await router.stop();
    for (const c of backend.wss.clients) c.terminate();
    backend.server.closeAllConnections();
    await new Promise((r) => backend.server.close(r));
    await temp.cleanup();
  };
});

afterAll(() => cleanup());

interface Terminal { ws: WebSocket; closed: Promise<{ code: number; reason: string; at: number }> }

async function openTerminal(): Promise<Terminal> {
  const ws = new WebSocket(`${routerUrl}/play`, { headers: { 'x-switchyard-version': '1.4.0' } });
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), at: performance.now() }));
  });
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return { ws, closed };
}

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data) => resolve(String(data)));
    ws.send(text);
  });
}

describe('Router.closeSessions', () => {
  it('closes 200 sessions on one process with 1012 and the reason, paced evenly over 2 s, and counts them', { timeout: 60_000 }, async () => {
    const terminals: Terminal[] = [];
    for (let i = 0; i < 200; i += 20) terminals.push(...(await Promise.all(Array.from({ length: 20 }, openTerminal))));
    expect(await Promise.all(terminals.map((t, i) => echo(t.ws, String(i))))).toEqual(terminals.map((_t, i) => `echo:${i}`));
    expect(router.openSessions(PROCESS)).toBe(200);
    backend.closes.length = 0;

    const started = performance.now();
    const result = await router.closeSessions(PROCESS, { code: 1012, reason: REASON, overMs: 2000 });
    const tookMs = performance.now() - started;
    const closes = await Promise.all(terminals.map((t) => t.closed));

    expect(result).toEqual({ closed: 200 });
    expect(closes.every((c) => c.code === 1012 && c.reason === REASON)).toBe(true);
    // The process saw each close as from its client: the same code and reason, in valid (masked) frames.
    await expect.poll(() => backend.closes.length, { timeout: 5000 }).toBe(200);
    expect(backend.closes.every((c) => c.code === 1012 && c.reason === REASON)).toBe(true);
    expect(router.openSessions(PROCESS)).toBe(0);

    const buckets = Array.from({ length: 20 }, () => 0);
    for (const c of closes) buckets[Math.min(19, Math.floor((c.at - started) / 100))]! += 1;
    console.log(`closeSessions over 2000 ms took ${tookMs.toFixed(0)} ms; closes per 100 ms: ${buckets.join(' ')}`);
    // Even pacing is 10 a bucket: never a burst, and spread over the whole 2 s.
    expect(Math.max(...buckets)).toBeLessThanOrEqual(25);
    expect(buckets.filter((n) => n > 0).length).toBeGreaterThanOrEqual(17);
    expect(buckets.slice(0, 10).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(70);
    expect(buckets.slice(0, 10).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(130);
    expect(tookMs).toBeGreaterThanOrEqual(1900);
    expect(tookMs).toBeLessThan(6000);
  });

  it('puts the close frame after a message in flight, never inside it', { timeout: 30_000 }, async () => {
    const terminal = await openTerminal();
    const received = new Promise<Buffer>((resolve) => terminal.ws.once('message', (data) => resolve(data as Buffer)));
    // The terminal stops reading, so the 4 MiB answer is still on its way through the router when the close comes.
    terminal.ws.pause();
    terminal.ws.send('big');
    await new Promise((r) => setTimeout(r, 100));
    const closing = router.closeSessions(PROCESS, { code: 1012, reason: REASON, overMs: 0 });
    await new Promise((r) => setTimeout(r, 100));
    terminal.ws.resume();
    const message = await received;
    expect(message.length).toBe(BIG);
    expect(createHash('sha256').update(message).digest('hex')).toBe(createHash('sha256').update(backend.big).digest('hex'));
    expect(await terminal.closed).toMatchObject({ code: 1012, reason: REASON });
    expect(await closing).toEqual({ closed: 1 });
  });

  it('refuses a code a server may not send and a reason too long for a close frame', async () => {
    await expect(router.closeSessions(PROCESS, { code: 1006, reason: REASON, overMs: 0 })).rejects.toThrow(/not a close code/);
    await expect(router.closeSessions(PROCESS, { code: 1012, reason: 'x'.repeat(124), overMs: 0 })).rejects.toThrow(/at most 123/);
    expect(await router.closeSessions('lobby@9.9.9#0', { code: 1012, reason: REASON, overMs: 1000 })).toEqual({ closed: 0 });
  });
});
