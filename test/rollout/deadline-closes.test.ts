import { readFile, writeFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { assertNothingLeft, makeRolloutProject, waitFor, type RolloutProject } from '../helpers/rollout-project.js';

/**
 * A drain deadline in proxy mode, end to end (real PM2, the router under
 * PM2, real WebSockets through the built-in proxy): the draining version's
 * sessions are closed with 1012 and a reason, paced over `drain.closeOver`,
 * before its process is stopped; each counts as cut off.
 */
const SESSIONS = 200;
const CLOSE_OVER_MS = 2000;

describe('a drain deadline closes the version\'s WebSockets, paced', () => {
  let p: RolloutProject;
  const sockets: WebSocket[] = [];
  afterAll(async () => {
    for (const s of sockets) s.terminate();
    await p?.cleanup();
    await assertNothingLeft();
  }, 60_000);

  it(`${SESSIONS} sessions on the old version are closed with 1012 over ${CLOSE_OVER_MS} ms at its deadline, then it is stopped`, async () => {
    p = await makeRolloutProject({ versions: ['1.0.0', '1.1.0'], heartbeatInterval: '300ms', drainTimeout: '4s' });
    const doc = parseDocument(await readFile(p.configPath, 'utf8'));
    doc.setIn(['router', 'mode'], 'proxy');
    doc.setIn(['services', p.service, 'drain', 'closeOver'], `${CLOSE_OVER_MS}ms`);
    await writeFile(p.configPath, doc.toString());
    expect((await p.cli(['router', 'start'])).exitCode).toBe(0);
    expect((await p.cliJson(['deploy', '1.0.0'])).exitCode).toBe(0);

    const closes: Array<{ at: number; code: number; reason: string }> = [];
    await Promise.all(Array.from({ length: SESSIONS }, () => new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${p.routerPort}/play`, { headers: { 'x-switchyard-version': '1.0.0' } });
      sockets.push(ws);
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.on('close', (code, reason) => closes.push({ at: Date.now(), code, reason: reason.toString() }));
    })));
    // The sessions are counted (so 1.0.0 does not drain to zero before its deadline).
    await waitFor('the sessions in the tally', async () => ((await p.routerStatus())?.services?.lobby?.tally?.find((t: { version: string }) => t.version === '1.0.0')?.terminals === SESSIONS ? true : undefined), { timeoutMs: 15_000 });

    const promoted = await p.cliJson(['deploy', '1.1.0']);
    expect(promoted.exitCode, promoted.stderr).toBe(0);
    await waitFor('every session closed', () => (closes.length === SESSIONS ? true : undefined), { timeoutMs: 20_000, intervalMs: 50 });
    expect(closes.every((c) => c.code === 1012)).toBe(true);
    expect(closes[0]!.reason).toContain('1.0.0 is retiring');
    const first = Math.min(...closes.map((c) => c.at));
    const last = Math.max(...closes.map((c) => c.at));
    const buckets = new Map<number, number>();
    for (const c of closes) buckets.set(Math.floor((c.at - first) / 100), (buckets.get(Math.floor((c.at - first) / 100)) ?? 0) + 1);
    const busiest = Math.max(...buckets.values());
    // Paced: spread over most of closeOver, never all at once.
    expect(last - first).toBeGreaterThanOrEqual(CLOSE_OVER_MS * 0.75);
    expect(busiest).toBeLessThanOrEqual(SESSIONS / 5);

    const retired = await waitFor('1.0.0 stopped and recorded retired at its deadline', async () => {
      const entry = (await p.policy()).services.lobby.processes.find((q: { version: string }) => q.version === '1.0.0');
      return entry?.state === 'retired' ? entry : undefined;
    }, { timeoutMs: 15_000 });
    expect(retired.reason).toBe('deadline');
    expect((await p.pm2Jlist()).some((q) => q.name === retired.id)).toBe(false);
    console.log(`[deadline closes] ${SESSIONS} WebSockets closed with 1012 over ${last - first} ms (closeOver ${CLOSE_OVER_MS} ms; busiest 100 ms: ${busiest}), then ${retired.id} retired (deadline, ${retired.terminalsCutOff ?? 0} terminals counted cut off)`);
  }, 90_000);
});
