import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../../src/core/policy-schema.js';
import { configText, freshLayout, mapFilesText } from '../../src/haproxy/config-text.js';
import { describePolicy } from '../../src/haproxy/desired.js';
import { mapFile, MAP_NAMES } from '../../src/haproxy/layout.js';
import { HaproxyProcess } from '../../src/haproxy/process.js';
import { HaproxyServerStats, parseServerStats, serverFigures, type StatsApi } from '../../src/haproxy/server-stats.js';
import { freePort } from '../helpers/free-port.js';
import { haproxyMissing } from '../helpers/haproxy.js';
import { policyOf, proc, service } from '../helpers/policy-builder.js';

/**
 * Requests and errors per version from HAProxy's per-server counters.
 * The parser and the arithmetic run on a real `show stat -1 4 -1` capture
 * from HAProxy 2.6 (fixtures/show-stat-haproxy-2.6.csv: 1.5.0 on :18501
 * answered 5×200, 404, 503; 1.6.0 on :18502 closed two connections before
 * answering and cut one 200 off mid-body; 1.7.0 on :18503 refused
 * connections, retried 3 times); then a real HAProxy, started from the
 * config switchyard writes, carries live traffic.
 */

const CAPTURE = readFileSync(join(import.meta.dirname, 'fixtures/show-stat-haproxy-2.6.csv'), 'utf8');
const PORTS = { 'lobby@1.5.0#0': 18501, 'lobby@1.6.0#0': 18502, 'lobby@1.7.0#0': 18503 };
const policyFor = (ports: Record<string, number>): Policy => policyOf({ lobby: service('1.5.0', Object.entries(ports).map(([id, port]) => proc(id, 'active', port))) });

/** A runtime API that answers with the given `show stat` texts in turn, as worker `pid`. */
function fakeApi(answers: string[], pid = () => 100): StatsApi {
  return { send: async () => answers.shift() ?? CAPTURE, workerPid: async () => pid() };
}

/** The capture with some columns of one server's line changed. */
function edited(server: string, changes: Record<string, number>): string {
  const names = CAPTURE.split('\n')[0]!.slice(2).split(',');
  return CAPTURE.split('\n').map((line) => {
    if (!line.includes(`,${server},`)) return line;
    const f = line.split(',');
    for (const [column, value] of Object.entries(changes)) f[names.indexOf(column)] = String(value);
    return f.join(',');
  }).join('\n');
}

describe('server counters from a real capture', () => {
  it('turns each server line into finished requests and the errors among them', () => {
    const figures = Object.fromEntries(parseServerStats(CAPTURE).map((s) => [s.server, serverFigures(s)]));
    expect(figures).toEqual({
      '127.0.0.1:18501': { requests: 7, errors: 1 },
      '127.0.0.1:18502': { requests: 3, errors: 3 },
      '127.0.0.1:18503': { requests: 1, errors: 1 },
    });
  });

  it('refuses an answer without its header', () => {
    expect(() => parseServerStats('No such proxy.\n')).toThrow(/no header line/);
  });

  it('take() sums a version\'s servers since the last take; a new worker is counted afresh', async () => {
    let pid = 100;
    const stats = new HaproxyServerStats(fakeApi([CAPTURE, CAPTURE, CAPTURE, edited('127.0.0.1:18502', { stot: 5 }), edited('127.0.0.1:18502', { stot: 1 })], () => pid), () => policyFor(PORTS));
    expect(await stats.take('lobby', '1.6.0')).toEqual({ requests: 3, errors: 3 });
    expect(await stats.take('lobby', '1.5.0')).toEqual({ requests: 7, errors: 1 });
    expect(await stats.take('lobby', '1.6.0')).toEqual({ requests: 0, errors: 0 });
    expect(await stats.take('lobby', '1.6.0')).toEqual({ requests: 2, errors: 2 });
    // HAProxy reloaded: a new worker whose counters start again.
    pid = 101;
    expect(await stats.take('lobby', '1.6.0')).toEqual({ requests: 1, errors: 1 });
  });

  it('an answered request whose stream has not finished never counts as an error', async () => {
    // 18501 (stot 7, 5×2xx) takes one more request; its 200 is in, its stream still open (scur 1); then it finishes.
    const inFlight = edited('127.0.0.1:18501', { stot: 8, scur: 1, hrsp_2xx: 6 });
    const finished = edited('127.0.0.1:18501', { stot: 8, scur: 0, hrsp_2xx: 6 });
    const stats = new HaproxyServerStats(fakeApi([CAPTURE, inFlight, finished]), () => policyFor(PORTS));
    expect(await stats.take('lobby', '1.5.0')).toEqual({ requests: 7, errors: 1 });
    expect(await stats.take('lobby', '1.5.0')).toEqual({ requests: 0, errors: 0 });
    expect(await stats.take('lobby', '1.5.0')).toEqual({ requests: 1, errors: 0 });
  });

  it('keeps running totals per version across a reload, so they can be shared (a CountsSource)', async () => {
    let pid = 100;
    const stats = new HaproxyServerStats(fakeApi([CAPTURE, edited('127.0.0.1:18501', { stot: 2, hrsp_2xx: 2, hrsp_4xx: 0, hrsp_5xx: 0 })], () => pid), () => policyFor(PORTS));
    await stats.poll();
    pid = 101;
    await stats.poll();
    const totals = Object.fromEntries([...stats.all()].map((e) => [e.version, [e.counts.bareRequests, e.counts.bareErrors]]));
    // 1.5.0: 7 (1 error) before the reload, then 2 more from the new worker; the other servers' new-worker counts are whole again.
    expect(totals).toEqual({ '1.5.0': [9, 1], '1.6.0': [6, 6], '1.7.0': [2, 2] });
  });

  it('says why when HAProxy cannot be asked, or has no policy yet', async () => {
    const dead: StatsApi = { send: async () => { throw new Error('connect ENOENT /x/admin.sock'); }, workerPid: async () => 1 };
    expect(await new HaproxyServerStats(dead, () => policyFor(PORTS)).take('lobby', '1.6.0')).toEqual({ unreachable: "HAProxy's server counters could not be read (connect ENOENT /x/admin.sock)" });
    expect(await new HaproxyServerStats(fakeApi([]), () => undefined).take('lobby', '1.6.0')).toMatchObject({ unreachable: expect.stringContaining('no policy') });
  });
});

const missing = haproxyMissing();

describe.skipIf(missing)('server counters from a live HAProxy', () => {
  let dir: string;
  let haproxy: HaproxyProcess;
  let edge: string;
  let policy: Policy;
  const servers: Server[] = [];

  const listen = async (handler: RequestListener): Promise<number> => {
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    return (server.address() as AddressInfo).port;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-hstats-'));
    const good = await listen((req, res) => res.writeHead(Number(new URL(req.url!, 'http://x').searchParams.get('s') ?? 200)).end('ok'));
    const flaky = await listen((req, res) => {
      if (!req.url?.includes('cut')) return void res.socket?.destroy();
      res.writeHead(200, { 'content-length': '100' }).write('abc');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    policy = policyFor({ 'lobby@1.5.0#0': good, 'lobby@1.6.0#0': flaky, 'lobby@1.7.0#0': await freePort() });
    const desired = describePolicy(policy);
    const layout = freshLayout(desired);
    const port = await freePort();
    edge = `http://127.0.0.1:${port}`;
    await writeFile(join(dir, 'haproxy.cfg'), configText({ dir, listen: { host: '127.0.0.1', port }, threads: 1, router: { host: '127.0.0.1', port: await freePort() }, versionHeader: 'x-switchyard-version', serviceHeader: 'x-switchyard-service', forwardFor: false }, desired, layout));
    const maps = mapFilesText(desired, layout);
    for (const name of MAP_NAMES) await writeFile(mapFile(dir, name), maps[name]);
    haproxy = new HaproxyProcess('haproxy', dir);
    await haproxy.checkBinary();
    await haproxy.start();
  }, 30_000);

  afterAll(async () => {
    await haproxy?.stop();
    for (const s of servers) s.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const send = async (version: string, path = '/x'): Promise<number | string> => {
    try {
      const r = await fetch(`${edge}${path}`, { headers: { 'x-switchyard-version': version } });
      await r.text();
      return r.status;
    } catch (error) {
      return (error as Error).message;
    }
  };

  it('counts every version\'s answers, refusals, silent closes and cut-off answers as the terminals saw them', async () => {
    const stats = new HaproxyServerStats(haproxy.api, () => policy);
    for (let i = 0; i < 20; i += 1) expect(await send('1.5.0')).toBe(200);
    for (let i = 0; i < 3; i += 1) expect(await send('1.5.0', '/x?s=503')).toBe(503);
    expect(await send('1.5.0', '/x?s=404')).toBe(404);
    expect(await send('1.6.0')).not.toBe(200);
    expect(await send('1.6.0', '/cut')).not.toBe(200);
    expect(await send('1.7.0')).toBe(503);
    expect(await stats.take('lobby', '1.5.0')).toEqual({ requests: 24, errors: 3 });
    expect(await stats.take('lobby', '1.6.0')).toEqual({ requests: 2, errors: 2 });
    expect(await stats.take('lobby', '1.7.0')).toEqual({ requests: 1, errors: 1 });

    for (let i = 0; i < 5; i += 1) await send('1.5.0');
    expect(await stats.take('lobby', '1.5.0')).toEqual({ requests: 5, errors: 0 });
    expect(await stats.take('lobby', '1.7.0')).toEqual({ requests: 0, errors: 0 });
  });
});
