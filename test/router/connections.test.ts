import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';

/**
 * Bounded connections, seen from outside: a real `switchyard router run`
 * child, raw TCP clients that behave like slowloris, and the router's open
 * sockets counted in /proc/<pid>/fd.
 */

const HAS_PROC = existsSync('/proc/self/fd');
if (!HAS_PROC) console.warn('skipping: the connection tests count sockets in /proc/<pid>/fd (Linux only)');

const HEADERS_TIMEOUT_MS = 2000;
const REQUEST_TIMEOUT_MS = 4000;
const KEEP_ALIVE_MS = 1000;
/** Room for a loaded machine on top of each timeout; the figures measured are printed. */
const SLACK_MS = 3000;

const policy = buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sockets the process holds (TCP, and the stdio socket pairs its parent gave it). */
function socketCount(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n += 1;
    } catch {
      // Closed while listing.
    }
  }
  return n;
}

/** Polls until `accept` holds; returns the milliseconds it took, or throws after `timeoutMs`. */
async function within(what: string, timeoutMs: number, accept: () => boolean): Promise<number> {
  const started = Date.now();
  while (!accept()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(50);
  }
  return Date.now() - started;
}

/** The router's socket count once its own idle connections (the start-up health checks) are gone. */
async function baseline(router: RouterProcess): Promise<number> {
  await sleep(KEEP_ALIVE_MS + 500);
  let low = socketCount(router.pid);
  for (let i = 0; i < 10; i++) {
    await sleep(100);
    low = Math.min(low, socketCount(router.pid));
  }
  return low;
}

interface Client {
  socket: Socket;
  closed: boolean;
  stop(): void;
}

/** A TCP client that never closes its own side first, as an attacker would not. */
function client(router: RouterProcess, localAddress = '127.0.0.1'): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: router.host, port: router.port, localAddress, allowHalfOpen: true });
    const c: Client = { socket, closed: false, stop: () => socket.destroy() };
    socket.on('error', () => undefined);
    // Flowing, so the router's FIN is seen ('end' waits for the data before it to be read).
    socket.resume();
    socket.on('end', () => {
      c.closed = true;
    });
    socket.on('close', () => {
      c.closed = true;
    });
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
  });
}

const opened: Client[] = [];
afterAll(() => {
  for (const c of opened.splice(0)) c.stop();
});

const userPm2HomeUntouched = guardUserPm2Home();
afterAll(async () => {
  await stopAllRouters();
  userPm2HomeUntouched();
});

describe.skipIf(!HAS_PROC)('slow clients cannot pin the router\'s sockets', () => {
  let router: RouterProcess;
  beforeAll(async () => {
    router = await startRouter({
      mode: 'proxy',
      policy,
      router: { headersTimeout: `${HEADERS_TIMEOUT_MS}ms`, requestTimeout: `${REQUEST_TIMEOUT_MS}ms`, keepAliveTimeout: `${KEEP_ALIVE_MS}ms` },
    });
  });

  it('30 slowloris clients: the router\'s open sockets return to their baseline within its header timeout', async () => {
    const base = await baseline(router);
    const clients = await Promise.all(Array.from({ length: 30 }, () => client(router)));
    opened.push(...clients);
    const started = Date.now();
    const timers: NodeJS.Timeout[] = [];
    clients.forEach((c, i) => {
      c.socket.write('GET /games/1 HTTP/1.1\r\nHost: router\r\nX-Switchyard-Version: 1.5.0\r\n');
      // Half stall after a partial head; half trickle a header, one byte every 200 ms, forever.
      if (i % 2 === 1) {
        c.socket.write('X-Slow: ');
        timers.push(setInterval(() => !c.closed && c.socket.write('a'), 200));
      }
    });
    try {
      await within('the router holding all 30 connections', 5000, () => socketCount(router.pid) >= base + 30);
      const tookMs = await within('the router\'s sockets back to baseline', HEADERS_TIMEOUT_MS + SLACK_MS, () => socketCount(router.pid) <= base);
      const sinceConnect = Date.now() - started;
      console.log(`30 slowloris clients: router sockets ${base} → ${base + 30} → ${socketCount(router.pid)}; back to baseline ${sinceConnect} ms after they connected (router.headersTimeout ${HEADERS_TIMEOUT_MS} ms)`);
      expect(tookMs).toBeLessThan(HEADERS_TIMEOUT_MS + SLACK_MS);
      await within('every slow client seeing its connection closed', 2000, () => clients.every((c) => c.closed));
    } finally {
      for (const t of timers) clearInterval(t);
    }
    // The router still serves.
    expect((await router.health())?.ok).toBe(true);
  });

  it('a body that trickles in is cut at the request timeout, with 408', async () => {
    const base = await baseline(router);
    const clients = await Promise.all(Array.from({ length: 5 }, () => client(router)));
    opened.push(...clients);
    const answers = clients.map(() => '');
    const timers = clients.map((c, i) => {
      c.socket.on('data', (chunk: Buffer) => (answers[i] += chunk.toString('latin1')));
      c.socket.write('POST /v1/login HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
      return setInterval(() => !c.closed && c.socket.write(' '), 200);
    });
    try {
      await within('the router holding all 5 connections', 5000, () => socketCount(router.pid) >= base + 5);
      const tookMs = await within('the router\'s sockets back to baseline', REQUEST_TIMEOUT_MS + SLACK_MS, () => socketCount(router.pid) <= base);
      console.log(`5 slow bodies: router sockets back to baseline ${base} after ${tookMs} ms (router.requestTimeout ${REQUEST_TIMEOUT_MS} ms)`);
    } finally {
      for (const t of timers) clearInterval(t);
    }
    await within('every slow body seeing its connection closed', 2000, () => clients.every((c) => c.closed));
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const base = await baseline(router);
    const c = await client(router);
    opened.push(c);
    let answer = '';
    c.socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: router\r\nConnection: keep-alive\r\n\r\n');
    await within('the answer', 5000, () => answer.includes('"ok":true'));
    const tookMs = await within('the idle connection closed by the router', KEEP_ALIVE_MS + SLACK_MS, () => c.closed && socketCount(router.pid) <= base);
    console.log(`idle keep-alive connection closed ${tookMs} ms after its answer (router.keepAliveTimeout ${KEEP_ALIVE_MS} ms)`);
  });
});

describe.skipIf(!HAS_PROC)('connection caps', () => {
  let router: RouterProcess;
  beforeAll(async () => {
    router = await startRouter({
      mode: 'redirect',
      policy,
      router: { headersTimeout: '60s', requestTimeout: '60s', keepAliveTimeout: `${KEEP_ALIVE_MS}ms`, maxConnections: 8, maxConnectionsPerClient: 5 },
    });
  });

  /** Opens `n` connections from `from` and says which the router closed at once. */
  async function open(n: number, from: string): Promise<Client[]> {
    const made = await Promise.all(Array.from({ length: n }, () => client(router, from)));
    opened.push(...made);
    await sleep(500);
    return made;
  }

  it('closes connections over the per-client and the total cap at once, and logs each cap once', async () => {
    const base = await baseline(router);
    const first = await open(5, '127.0.0.1');
    expect(first.filter((c) => c.closed)).toHaveLength(0);
    const over = await open(3, '127.0.0.1');
    await within('the 3 connections over the per-client cap closed', 3000, () => over.every((c) => c.closed));
    expect(first.filter((c) => c.closed)).toHaveLength(0);

    const second = await open(3, '127.0.0.2');
    expect(second.filter((c) => c.closed)).toHaveLength(0);
    const third = await open(2, '127.0.0.3');
    await within('the 2 connections over the total cap closed', 3000, () => third.every((c) => c.closed));
    expect(socketCount(router.pid)).toBe(base + 8);

    const log = router.stderr();
    expect(log.match(/connection cap reached for client 127\.0\.0\.1:/g)).toHaveLength(1);
    expect(log.match(/connection cap reached: 8 client connections open \(router\.maxConnections is 8\)/g)).toHaveLength(1);

    for (const c of [...first, ...second]) c.stop();
    await within('the router back to its baseline', 5000, () => socketCount(router.pid) <= base);
    await within('the log saying the caps are left', 3000, () => /below router\.maxConnections again \(2 refused meanwhile\)/.test(router.stderr()) && /client 127\.0\.0\.1 below router\.maxConnectionsPerClient again \(3 refused meanwhile\)/.test(router.stderr()));
    expect((await router.health())?.ok).toBe(true);
  });
});
