import { describe, expect, it } from 'vitest';
import { deriveKey, signRequest } from '../../src/protocol/signing.js';
import { startHeartbeat } from '../../src/sdk/heartbeat.js';
import { http } from '../helpers/http.js';
import { buildPolicy, jsonOk, projectCli, startRouter, type RouterProcess } from '../helpers/router-process.js';
import { cliHeaders } from '../helpers/signed.js';
import { heartbeatSuite } from './heartbeat-suite.js';
import { pipelined, rawPost } from './pipelined.js';

/**
 * Issue 20: one process key signing 29 s ahead floods the router with
 * 100,001 heartbeats (pipelined, so it takes seconds). The replay memory is
 * per key id: only the flooding key is refused once it has used up its
 * share, while the other processes' heartbeats keep being accepted and
 * `switchyard status` (signed with the CLI's key) keeps answering.
 * Against the real router child and the built CLI (`npm run build` first).
 */

const FLOODER = 'lobby@1.5.0#0';
const HONEST = ['lobby@1.5.0#1', 'lobby@1.5.0#2'];
const POLICY = buildPolicy({ lobby: { target: '1.5.0', processes: [0, 1, 2].map((index) => ({ version: '1.5.0', port: 7501 + index, index })) } }, 1);
const FLOOD = 100_001;
/** The per-key bound of the replay memory (DEFAULT_REPLAY_LIMITS.perKey). */
const PER_KEY = 10_000;

const beats = heartbeatSuite();

interface StatusProcess { id: string; heartbeat: { ageMs: number | null; stale: boolean } }
type Status = { services: { lobby: { processes: StatusProcess[] } } };

describe('a replay flood by one key', () => {
  let router: RouterProcess;

  it('refuses only that key: the other processes stay fresh and status answers, during and after 100,001 heartbeats signed 29 s ahead', { timeout: 180_000 }, async () => {
    router = await startRouter({ policy: POLICY, heartbeatInterval: '1s', staleAfter: 3 });
    // Refusals only: under a flood of 100,001 requests on two shared cores a beat may time out (load, not
    // replay memory); what must never happen is an honest beat answered 401, nor a process going stale.
    const honestRefusals: string[] = [];
    for (const id of HONEST) {
      beats.push(startHeartbeat({
        routerUrl: router.url, token: deriveKey(router.token, id), service: 'lobby', version: '1.5.0', process: id,
        intervalMs: 500, terminals: () => ({ '1.5.0': 3 }), onError: (e) => {
          if (/answered/.test(e.message)) honestRefusals.push(`${id}: ${e.message}`);
        },
      }));
    }

    const fresh = async () => (await http(`${router.url}/v1/status`, { headers: cliHeaders(router.token) })).json<Status>().services.lobby.processes.filter((p) => HONEST.includes(p.id) && !p.heartbeat.stale).length;
    await expect.poll(fresh, { timeout: 5000 }).toBe(HONEST.length);

    // Status, signed with the CLI's key, every 250 ms while the flood runs.
    const statusProblems: string[] = [];
    let statusReads = 0;
    let flooding = true;
    const watcher = (async () => {
      while (flooding) {
        const answer = await http(`${router.url}/v1/status`, { headers: cliHeaders(router.token), timeoutMs: 5000 }).catch((e: Error) => ({ status: 0, text: e.message, json: () => undefined }));
        statusReads += 1;
        if (answer.status !== 200) statusProblems.push(`status ${answer.status}: ${answer.text.slice(0, 200)}`);
        else {
          for (const p of (answer.json() as Status).services.lobby.processes.filter((p) => HONEST.includes(p.id))) {
            if (p.heartbeat.stale) statusProblems.push(`${p.id} stale (age ${p.heartbeat.ageMs} ms)`);
          }
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    const key = deriveKey(router.token, FLOODER);
    const ahead = Date.now() + 29_000;
    const started = Date.now();
    // seq 0 ("restarted") every time: the four connections' batches arrive interleaved, and this is not about seq.
    const counts = await pipelined(router.host, router.port, FLOOD, () => {
      const body = JSON.stringify({ service: 'lobby', version: '1.5.0', process: FLOODER, seq: 0, terminals: { '1.5.0': 1 } });
      return rawPost('/v1/heartbeat', `${router.host}:${router.port}`, { 'content-type': 'application/json', ...signRequest(key, FLOODER, 'POST', '/v1/heartbeat', body, ahead) }, body);
    }, { connections: 4, batch: 500 });
    const floodMs = Date.now() - started;
    flooding = false;
    await watcher;
    console.log(`flood of ${FLOOD} heartbeats in ${floodMs} ms: ${JSON.stringify(Object.fromEntries(counts))}; ${statusReads} status reads during it`);

    // The flooder got its share, then 429 too_many for the rest.
    expect(Object.fromEntries(counts)).toEqual({ 204: PER_KEY, 429: FLOOD - PER_KEY });
    expect(honestRefusals).toEqual([]);
    // The honest processes really beat during the flood (else "none refused" would prove nothing): every 500 ms from
    // this test's own timers, which the flood it sends delays on a loaded machine, so a quarter of that at least.
    for (const b of beats) expect(b.sent).toBeGreaterThan(floodMs / 500 / 4);
    expect(statusProblems).toEqual([]);
    expect(statusReads).toBeGreaterThan(0);

    // After the flood: the built CLI's status answers from the router, with both honest processes fresh.
    const cli = projectCli(router, router.pm2Home);
    const shown = jsonOk<Status & { router: { up: boolean } }>(await cli('status', '--json'));
    expect(shown.router.up).toBe(true);
    for (const id of HONEST) expect(shown.services.lobby.processes.find((p) => p.id === id)?.heartbeat.stale).toBe(false);

    // Refusals are counted by endpoint and reason.
    const metrics = (await http(`${router.url}/metrics`)).text;
    expect(metrics).toMatch(new RegExp(`^switchyard_signed_requests_refused_total\\{endpoint="heartbeat",reason="too_many"\\} ${FLOOD - PER_KEY}$`, 'm'));
    expect(metrics).not.toMatch(/reason="replayed"/);
  });
});
