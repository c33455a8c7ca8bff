import { describe, expect, it } from 'vitest';
import type { Heartbeat } from '../../src/core/heartbeat.js';
import { TallyBook } from '../../src/core/tally.js';

// Interval 1000 ms, stale after 3 intervals.
const hb = (process: string, seq: number, terminals: Record<string, number>): Heartbeat => {
  const [service, rest] = process.split('@') as [string, string];
  return { service, version: rest.split('#')[0]!, process, seq, terminals };
};
const book = (known: string[], maxPending?: number) => {
  const t = new TallyBook({ intervalMs: 1000, staleAfter: 3, ...(maxPending === undefined ? {} : { maxPending }) });
  t.setKnown(known, 0);
  return t;
};
const total = (t: TallyBook, service: string, now: number) => t.tally(service, now).reduce((n, e) => n + e.terminals, 0);

describe('TallyBook: ids the policy does not name', () => {
  it('are held as pending and never counted', () => {
    const t = book(['lobby@1.5.0#0']);
    expect(t.ingest(hb('lobby@1.5.0#0', 1, { '1.5.0': 2 }), 0)).toBe('accepted');
    expect(t.ingest(hb('lobby@1.5.0#7', 1, { '1.5.0': 500 }), 0)).toBe('pending');
    expect(t.ingest(hb('ghost@1.0.0#0', 1, { '1.0.0': 9 }), 0)).toBe('pending');
    expect(total(t, 'lobby', 0)).toBe(2);
    expect(t.tally('ghost', 0)).toEqual([]);
    expect(t.processIds('lobby')).toEqual(['lobby@1.5.0#0']);
  });

  it('count from the moment the policy names them (an early heartbeat is not lost)', () => {
    const t = book([]);
    expect(t.ingest(hb('lobby@1.6.0#0.g9', 0, { '1.6.0': 4 }), 0)).toBe('pending');
    expect(total(t, 'lobby', 500)).toBe(0);
    t.setKnown(['lobby@1.6.0#0.g9'], 500);
    expect(total(t, 'lobby', 500)).toBe(4);
    expect(t.processView('lobby@1.6.0#0.g9', 500)).toMatchObject({ stale: false, terminals: 4 });
    expect(t.ingest(hb('lobby@1.6.0#0.g9', 1, { '1.6.0': 5 }), 1000)).toBe('accepted');
    expect(total(t, 'lobby', 1000)).toBe(5);
  });

  it('stop counting when the policy no longer names them (retired, failed or removed)', () => {
    const t = book(['lobby@1.4.0#0', 'lobby@1.5.0#0']);
    t.ingest(hb('lobby@1.4.0#0', 1, { '1.4.0': 3 }), 0);
    t.ingest(hb('lobby@1.5.0#0', 1, { '1.5.0': 1 }), 0);
    t.setKnown(['lobby@1.5.0#0'], 100);
    expect(t.tally('lobby', 100)).toEqual([{ version: '1.5.0', terminals: 1, share: 1 }]);
    expect(t.ingest(hb('lobby@1.4.0#0', 2, { '1.4.0': 3 }), 200)).toBe('pending');
    expect(total(t, 'lobby', 200)).toBe(1);
  });

  it('are bounded in number: the least recently heard from is evicted', () => {
    const t = book(['lobby@1.5.0#0'], 1000);
    for (let i = 0; i < 100_000; i++) t.ingest(hb(`lobby@1.5.0#${i + 1}`, 0, { '1.5.0': 1 }), i / 100);
    expect(t.pendingCount).toBe(1000);
    expect(total(t, 'lobby', 1000)).toBe(0);
    // The newest are the ones kept: naming one now counts it.
    t.setKnown(['lobby@1.5.0#100000', 'lobby@1.5.0#1'], 1000);
    expect(total(t, 'lobby', 1000)).toBe(1);
  });

  it('are bounded in age: dropped once older than the stale window', () => {
    const t = book([]);
    for (let i = 0; i < 50; i++) t.ingest(hb(`lobby@1.5.0#${i}`, 0, {}), 0);
    expect(t.pendingCount).toBe(50);
    t.ingest(hb('lobby@1.5.0#99', 0, {}), 3001);
    expect(t.pendingCount).toBe(1);
    t.setKnown([], 6002);
    expect(t.pendingCount).toBe(0);
  });
});

describe('TallyBook: seq jumps', () => {
  it.each([
    ['a small skip (lost posts) is accepted', [[1, 0], [5, 1000]], 'accepted accepted'],
    ['a jump of 2e12 is refused, and the next genuine beat still counts', [[1, 0], [2e12, 500], [2, 1000]], 'accepted seq_jump accepted'],
    ['the allowance grows with the time since the last beat', [[1, 0], [400, 1000], [400, 200_000]], 'accepted seq_jump accepted'],
    ['seq 0 (a restart) is never a jump', [[900, 0], [0, 500]], 'accepted accepted'],
  ] as const)('%s', (_name, beats, outcomes) => {
    const t = book(['lobby@1.5.0#0']);
    expect(beats.map(([seq, now]) => t.ingest(hb('lobby@1.5.0#0', seq, { '1.5.0': 1 }), now)).join(' ')).toBe(outcomes);
  });
});

describe('TallyBook: zero intervals, not zero heartbeats', () => {
  it('beating ten times an interval counts one interval', () => {
    const t = book(['lobby@1.4.0#0']);
    for (let i = 0; i < 10; i++) t.ingest(hb('lobby@1.4.0#0', i + 1, {}), i * 100);
    expect(t.zeroStreak('lobby@1.4.0#0', 900)).toBe(2);
  });

  it('an extra beat on stop right after a regular one does not add an interval', () => {
    const t = book(['lobby@1.4.0#0']);
    t.ingest(hb('lobby@1.4.0#0', 1, {}), 0);
    t.ingest(hb('lobby@1.4.0#0', 2, {}), 1000);
    t.ingest(hb('lobby@1.4.0#0', 3, {}), 1050);
    expect(t.zeroStreak('lobby@1.4.0#0', 1050)).toBe(2);
  });

  it('beats with jitter (0.9 to 1.1 intervals) count one each', () => {
    const t = book(['lobby@1.4.0#0']);
    [0, 900, 2000, 2900, 3950].forEach((now, i) => t.ingest(hb('lobby@1.4.0#0', i + 1, {}), now));
    expect(t.zeroStreak('lobby@1.4.0#0', 3950)).toBe(5);
  });
});

describe('TallyBook: any monotonic time base', () => {
  it('ages come only from the times passed in, whatever their origin', () => {
    const t = book(['lobby@1.5.0#0']);
    t.ingest(hb('lobby@1.5.0#0', 1, { '1.5.0': 3 }), 12.5);
    expect(t.processView('lobby@1.5.0#0', 3012.5)).toMatchObject({ ageMs: 3000, stale: false });
    expect(t.processView('lobby@1.5.0#0', 3013)).toMatchObject({ stale: true });
  });
});
