import { describe, expect, it } from 'vitest';
import type { Heartbeat } from '../../src/core/heartbeat.js';
import { parseHeartbeat } from '../../src/core/heartbeat.js';
import { TallyBook } from '../../src/core/tally.js';

// Interval 1000 ms, stale after 3 intervals: stale once a heartbeat is more than 3000 ms old.
// The policy names these processes (and lobby@1.5.0#0 … #999 for the throughput case).
const NAMED = ['lobby@1.5.0#1', 'lobby@1.4.0#0', 'chat@2.0.0#0', ...Array.from({ length: 1000 }, (_, i) => `lobby@1.5.0#${i}`)];
const book = () => {
  const t = new TallyBook({ intervalMs: 1000, staleAfter: 3 });
  t.setKnown(NAMED, 0);
  return t;
};
const hb = (process: string, seq: number, terminals: Record<string, number>): Heartbeat => {
  const [service, rest] = process.split('@') as [string, string];
  return { service, version: rest.split('#')[0]!, process, seq, terminals };
};
const row = (t: TallyBook, service: string, now: number) => t.tally(service, now).map((e) => `${e.version}=${e.terminals}/${e.share}`).join(' ');

describe('TallyBook tallies', () => {
  it.each([
    ['one process', [hb('lobby@1.5.0#0', 1, { '1.5.0': 3, '1.4.0': 1 })], '1.5.0=3/0.75 1.4.0=1/0.25'],
    ['summed over processes', [hb('lobby@1.5.0#0', 1, { '1.5.0': 3 }), hb('lobby@1.5.0#1', 1, { '1.5.0': 5, '1.4.0': 2 })], '1.5.0=8/0.8 1.4.0=2/0.2'],
    ['ordered by count, largest first', [hb('lobby@1.5.0#0', 1, { '1.3.0': 1, '1.5.0': 7, '1.4.0': 2 })], '1.5.0=7/0.7 1.4.0=2/0.2 1.3.0=1/0.1'],
    ['ties ordered by version, newest first', [hb('lobby@1.5.0#0', 1, { '1.4.0': 2, '1.10.0': 2, '1.9.0': 2 })], '1.10.0=2/0.3333 1.9.0=2/0.3333 1.4.0=2/0.3333'],
    ['shares rounded to 4 decimals', [hb('lobby@1.5.0#0', 1, { '1.5.0': 2, '1.4.0': 1 })], '1.5.0=2/0.6667 1.4.0=1/0.3333'],
    ['a later heartbeat replaces the earlier counts', [hb('lobby@1.5.0#0', 1, { '1.5.0': 9 }), hb('lobby@1.5.0#0', 2, { '1.5.0': 4 })], '1.5.0=4/1'],
    ['versions that reach zero leave the tally', [hb('lobby@1.5.0#0', 1, { '1.4.0': 9 }), hb('lobby@1.5.0#0', 2, { '1.4.0': 0, '1.5.0': 1 })], '1.5.0=1/1'],
    ['zero terminals: empty tally', [hb('lobby@1.5.0#0', 1, {})], ''],
    ['other services stay out', [hb('chat@2.0.0#0', 1, { '2.0.0': 5 }), hb('lobby@1.5.0#0', 1, { '1.5.0': 1 })], '1.5.0=1/1'],
  ] as const)('%s', (_name, beats, expected) => {
    const t = book();
    for (const b of beats) t.ingest(b, 0);
    expect(row(t, 'lobby', 0)).toBe(expected);
  });

  it('an unknown service has an empty tally', () => {
    expect(book().tally('nope', 0)).toEqual([]);
  });

  it('the answer is a copy: changing it does not change the book', () => {
    const t = book();
    t.ingest(hb('lobby@1.5.0#0', 1, { '1.5.0': 1 }), 0);
    t.tally('lobby', 0)[0]!.terminals = 99;
    expect(row(t, 'lobby', 0)).toBe('1.5.0=1/1');
  });
});

describe('TallyBook staleness', () => {
  const two = () => {
    const t = book();
    t.ingest(hb('lobby@1.5.0#0', 1, { '1.5.0': 6 }), 0);
    t.ingest(hb('lobby@1.4.0#0', 1, { '1.4.0': 4 }), 2000);
    return t;
  };

  it.each([
    ['both fresh', 2500, '1.5.0=6/0.6 1.4.0=4/0.4'],
    ['exactly at the window is still fresh', 3000, '1.5.0=6/0.6 1.4.0=4/0.4'],
    ['one went stale and leaves the tally', 3001, '1.4.0=4/1'],
    ['both stale: empty tally', 5001, ''],
  ] as const)('%s', (_name, now, expected) => {
    expect(row(two(), 'lobby', now)).toBe(expected);
  });

  it('a stale process shows as stale with its last counts, and comes back with its next heartbeat', () => {
    const t = two();
    expect(row(t, 'lobby', 4000)).toBe('1.4.0=4/1');
    expect(t.processView('lobby@1.5.0#0', 4000)).toEqual({ ageMs: 4000, stale: true, terminals: 6, byVersion: { '1.5.0': 6 } });
    expect(t.ingest(hb('lobby@1.5.0#0', 2, { '1.5.0': 1 }), 4000)).toBe('accepted');
    expect(row(t, 'lobby', 4000)).toBe('1.4.0=4/0.8 1.5.0=1/0.2');
  });

  it.each([
    ['never seen', 'lobby@9.9.9#0', 0, { ageMs: null, stale: true, terminals: 0, byVersion: {} }],
    ['fresh', 'lobby@1.4.0#0', 2500, { ageMs: 500, stale: false, terminals: 4, byVersion: { '1.4.0': 4 } }],
    ['age never negative', 'lobby@1.4.0#0', 1000, { ageMs: 0, stale: false, terminals: 4, byVersion: { '1.4.0': 4 } }],
  ] as const)('processView: %s', (_name, id, now, expected) => {
    expect(two().processView(id, now)).toEqual(expected);
  });

  it('forget removes a process and its counts', () => {
    const t = two();
    t.forget('lobby@1.4.0#0');
    t.forget('lobby@never#0');
    expect(row(t, 'lobby', 2000)).toBe('1.5.0=6/1');
    expect(t.processView('lobby@1.4.0#0', 2000).ageMs).toBeNull();
    expect(t.processIds('lobby')).toEqual(['lobby@1.5.0#0']);
  });

  it('forgetting a process already stale does not subtract twice', () => {
    const t = two();
    expect(row(t, 'lobby', 4000)).toBe('1.4.0=4/1');
    t.forget('lobby@1.5.0#0');
    expect(row(t, 'lobby', 4000)).toBe('1.4.0=4/1');
  });
});

describe('TallyBook sequence numbers', () => {
  // Each case: heartbeats as [seq, nowMs, count of 1.5.0], the outcomes, and the count left in the tally at the last time.
  it.each([
    ['rising seqs are accepted', [[1, 0, 1], [2, 1000, 2], [3, 2000, 3]], 'accepted accepted accepted', 3],
    ['a repeated seq is ignored', [[5, 0, 1], [5, 1000, 2]], 'accepted out_of_order', 1],
    ['a lower seq is ignored', [[5, 0, 1], [4, 1000, 2]], 'accepted out_of_order', 1],
    ['seq 0 is a restart and always accepted', [[5, 0, 1], [0, 1000, 2], [1, 2000, 3]], 'accepted accepted accepted', 3],
    ['after a restart the old seqs are behind it', [[5, 0, 1], [0, 1000, 2], [6, 1500, 9], [1, 2000, 3]], 'accepted accepted accepted out_of_order', 9],
    ['a lower seq after the stale window is a restart', [[50, 0, 1], [3, 3001, 2], [4, 4000, 4]], 'accepted accepted accepted', 4],
    ['a lower seq inside the window is not', [[50, 0, 1], [3, 3000, 2]], 'accepted out_of_order', 1],
  ] as const)('%s', (_name, beats, outcomes, left) => {
    const t = book();
    const seen = beats.map(([seq, now, n]) => t.ingest(hb('lobby@1.5.0#0', seq, { '1.5.0': n }), now));
    expect(seen.join(' ')).toBe(outcomes);
    expect(t.tally('lobby', beats[beats.length - 1]![1])[0]?.terminals).toBe(left);
  });
});

describe('TallyBook zero streak', () => {
  // Heartbeats as [nowMs, terminals]; seq rises by one each time.
  it.each([
    ['counts consecutive zero heartbeats', [[0, {}], [1000, {}], [2000, {}]], 3],
    ['an explicit zero count is zero', [[0, { '1.4.0': 0 }], [1000, { '1.4.0': 0, '1.3.0': 0 }]], 2],
    ['a heartbeat with terminals resets it', [[0, {}], [1000, { '1.4.0': 2 }], [2000, {}]], 1],
    ['never heard of', [], 0],
    ['still holding terminals', [[0, { '1.4.0': 5 }]], 0],
    ['starts over after a stale gap: silence is not zero', [[0, {}], [1000, {}], [9000, {}]], 1],
  ] as const)('%s', (_name, beats, expected) => {
    const t = book();
    beats.forEach(([now, terminals], i) => t.ingest(hb('lobby@1.4.0#0', i + 1, terminals), now));
    expect(t.zeroStreak('lobby@1.4.0#0')).toBe(expected);
  });

  it('a restart (seq 0) inside the window keeps the streak going', () => {
    const t = book();
    t.ingest(hb('lobby@1.4.0#0', 7, {}), 0);
    t.ingest(hb('lobby@1.4.0#0', 0, {}), 1000);
    expect(t.zeroStreak('lobby@1.4.0#0')).toBe(2);
  });

  it('given the time, a silent process reports no streak at all', () => {
    const t = book();
    t.ingest(hb('lobby@1.4.0#0', 1, {}), 0);
    t.ingest(hb('lobby@1.4.0#0', 2, {}), 1000);
    expect(t.zeroStreak('lobby@1.4.0#0', 4000)).toBe(2);
    expect(t.zeroStreak('lobby@1.4.0#0', 4001)).toBe(0);
  });
});

describe('TallyBook throughput', () => {
  it('parses and ingests well over 20,000 heartbeats a second', () => {
    const t = book();
    const bodies = Array.from({ length: 1000 }, (_, i) => ({
      service: 'lobby', version: '1.5.0', process: `lobby@1.5.0#${i}`, seq: 0,
      terminals: { '1.5.0': i, '1.4.0': i % 7, '1.3.0': i % 3, '1.2.0': 1 },
    }));
    // Best of three rounds, so a busy machine cannot fail it.
    const count = 50_000;
    let best = 0;
    for (let round = 0; round < 3; round++) {
      const start = performance.now();
      for (let n = round * count; n < (round + 1) * count; n++) {
        const body = bodies[n % 1000]!;
        body.seq = Math.floor(n / 1000) + 1;
        const parsed = parseHeartbeat(body);
        if (parsed.ok) t.ingest(parsed.heartbeat, n / 20);
        if (n % 10_000 === 0) t.tally('lobby', n / 20);
      }
      best = Math.max(best, count / ((performance.now() - start) / 1000));
    }
    console.log(`parse + ingest: ${Math.round(best).toLocaleString('en')} heartbeats/s`);
    expect(best).toBeGreaterThan(20_000);
    expect(t.tally('lobby', (3 * count) / 20)[0]).toEqual({ version: '1.5.0', terminals: 499_500, share: expect.any(Number) });
  });
});
