import { describe, expect, it } from 'vitest';
import { checkPolicy, type Policy } from '../../src/core/policy-schema.js';
import { promote } from '../../src/core/policy-transitions.js';
import { deriveKey } from '../../src/protocol/signing.js';
import { startHeartbeat, type DrainNotice, type Heartbeat } from '../../src/sdk/heartbeat.js';
import { http } from '../helpers/http.js';
import { buildPolicy, startRouter, type RouterProcess } from '../helpers/router-process.js';
import { heartbeatHeaders } from '../helpers/signed.js';
import { heartbeatSuite } from '../router/heartbeat-suite.js';

/**
 * The drain notice (DESIGN.md, POST /v1/heartbeat): while a process's
 * version drains its heartbeats are answered 200 `{drain: {since,
 * deadline}}`, else 204; the Node SDK calls onDrain once, and again when
 * the deadline changes. The promote is written as the CLI writes it (the
 * core's promote transition, one generation up) to a real router child.
 */

const OLD = 'lobby@1.4.0#0';
const OLD_RAW = 'lobby@1.4.0#1';
const NEW = 'lobby@1.5.0#0';
const BEAT_MS = 300;
const DRAIN_TIMEOUT_MS = 30 * 60_000;

const beats = heartbeatSuite();

function policyOf(input: unknown): Policy {
  const checked = checkPolicy(input);
  if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
  return checked.policy;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Told { notice: DrainNotice; beatsSince: number }

describe('the drain notice', () => {
  let router: RouterProcess;
  const start = policyOf(buildPolicy({
    lobby: { target: '1.4.0', processes: [{ version: '1.4.0', port: 7500 }, { version: '1.4.0', port: 7501, index: 1 }, { version: '1.5.0', port: 7502 }] },
  }, 1));

  it('reaches onDrain within two heartbeats of a promote, again when the deadline changes, and never the target\'s processes', { timeout: 60_000 }, async () => {
    router = await startRouter({ policy: start, heartbeatInterval: `${BEAT_MS}ms`, staleAfter: 5 });
    const told: Record<string, Told[]> = { [OLD]: [], [NEW]: [] };
    const errors: string[] = [];
    let writtenAt: Record<string, number> = {};
    const handles: Record<string, Heartbeat> = {};
    for (const [id, version] of [[OLD, '1.4.0'], [NEW, '1.5.0']] as const) {
      const hb = startHeartbeat({
        routerUrl: router.url, token: deriveKey(router.token, id), service: 'lobby', version, process: id, intervalMs: BEAT_MS,
        terminals: () => ({ [version]: 2 }),
        onError: (e) => errors.push(`${id}: ${e.message}`),
        // `sent` does not count yet the beat whose answer told it: + 1.
        onDrain: (notice) => told[id]!.push({ notice, beatsSince: hb.sent + 1 - (writtenAt[id] ?? 0) }),
      });
      handles[id] = hb;
      beats.push(hb);
    }
    await expect.poll(() => Math.min(handles[OLD]!.sent, handles[NEW]!.sent), { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    expect(told[OLD]).toEqual([]);

    // The promote: 1.5.0 becomes the target, 1.4.0 drains with a deadline.
    const now = new Date();
    const promoted = { ...promote(start, 'lobby', '1.5.0', now, DRAIN_TIMEOUT_MS), generation: 2 };
    writtenAt = { [OLD]: handles[OLD]!.sent, [NEW]: handles[NEW]!.sent };
    await router.writePolicy(promoted);
    await expect.poll(() => told[OLD]!.length, { timeout: 5000, interval: 20 }).toBe(1);
    const deadline = new Date(now.getTime() + DRAIN_TIMEOUT_MS).toISOString();
    expect(told[OLD]![0]!.notice).toEqual({ since: now.toISOString(), deadline });
    console.log(`drain notice reached onDrain on beat ${told[OLD]![0]!.beatsSince} after the promote was written`);
    expect(told[OLD]![0]!.beatsSince).toBeLessThanOrEqual(2);
    expect(handles[OLD]!.drain).toEqual({ since: now.toISOString(), deadline });

    // Later beats repeat the notice; the app is not told again while the deadline stands.
    const sentThen = handles[OLD]!.sent;
    await expect.poll(() => handles[OLD]!.sent, { timeout: 5000 }).toBeGreaterThanOrEqual(sentThen + 3);
    expect(told[OLD]).toHaveLength(1);

    // The deadline moves (a longer timeout written by hand): told once more, with the new deadline.
    const later = new Date(Date.parse(deadline) + 600_000).toISOString();
    const moved = structuredClone(promoted);
    for (const p of moved.services.lobby!.processes) if (p.state === 'draining') p.drainDeadline = later;
    await router.writePolicy({ ...moved, generation: 3 });
    await expect.poll(() => told[OLD]!.length, { timeout: 5000, interval: 20 }).toBe(2);
    expect(told[OLD]![1]!.notice).toEqual({ since: now.toISOString(), deadline: later });

    // The target's process is never told; neither is anything an error.
    await sleep(3 * BEAT_MS);
    expect(told[NEW]).toEqual([]);
    expect(handles[NEW]!.drain).toBeUndefined();
    expect(told[OLD]).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  it('on the wire: 200 with the notice for a draining process, 204 for the target\'s (what non-Node services read)', async () => {
    const ask = async (id: string, version: string) => {
      const body = JSON.stringify({ service: 'lobby', version, process: id, seq: 0, terminals: {} });
      return http(`${router.url}/v1/heartbeat`, { method: 'POST', headers: heartbeatHeaders(router.token, body), body });
    };
    const draining = await ask(OLD_RAW, '1.4.0');
    expect(draining.status).toBe(200);
    expect(draining.headers['content-type']).toMatch(/^application\/json/);
    expect(draining.json()).toEqual({ drain: { since: expect.any(String), deadline: expect.any(String) } });
    const target = await ask('lobby@1.5.0#0', '1.5.0');
    expect(target.status).toBe(204);
    expect(target.text).toBe('');
  });
});
