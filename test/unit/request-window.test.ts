import { describe, expect, it } from 'vitest';
import {
  addInto, bucketIndex, codeIndex, deltaCounts, deltaOfSources, emptyCounts, EXPORTED_BOUNDS_MS, IntervalReader, LATENCY_BOUNDS_MS, quantileMs, trafficOf, UPSTREAM_ERROR,
  type VersionCounts,
} from '../../src/core/request-window.js';
import { restartsBetween, type RestartReading } from '../../src/core/version-restarts.js';

/** Counts from a list of [status or 'up', latency ms]. */
function counts(observations: [number | 'up', number][], reported: [number, number] = [0, 0]): VersionCounts {
  const c = emptyCounts();
  for (const [status, ms] of observations) {
    c.codes[status === 'up' ? UPSTREAM_ERROR : codeIndex(status)]! += 1;
    c.buckets[bucketIndex(ms)]! += 1;
    c.sumMs += ms;
  }
  c.bareRequests = reported[0];
  c.bareErrors = reported[1];
  return c;
}
const many = (n: number, status: number | 'up', ms: number): [number | 'up', number][] => Array.from({ length: n }, () => [status, ms]);

describe('buckets and classes', () => {
  it.each([[0, 0], [1, 0], [1.01, 1], [800, 26], [801, 27], [60_000, 41], [60_001, 42], [Number.POSITIVE_INFINITY, 42]])('latency %d ms is in bucket %d', (ms, index) => {
    expect(bucketIndex(ms)).toBe(index);
  });

  it.each([[101, '1xx'], [200, '2xx'], [204, '2xx'], [304, '3xx'], [404, '4xx'], [503, '5xx'], [599, '5xx'], [99, '1xx'], [700, '5xx']])('status %d is %s', (status, label) => {
    expect(['1xx', '2xx', '3xx', '4xx', '5xx'][codeIndex(status)]).toBe(label);
  });

  it('every exported bucket bound is one of the fine bounds, so /metrics can be cut from them', () => {
    for (const bound of EXPORTED_BOUNDS_MS) expect(LATENCY_BOUNDS_MS).toContain(bound);
  });
});

describe('quantileMs', () => {
  it.each<[string, [number | 'up', number][], number | undefined]>([
    ['no latencies', [], undefined],
    ['all in one bucket', many(100, 200, 10), 9.98],
    ['one slow request in a hundred sits at the 99th', [...many(99, 200, 10), [200, 700]], 10],
    ['two slow in a hundred: p99 is the slow bucket', [...many(98, 200, 10), ...many(2, 200, 700)], 700],
    ['above every bound: the last bound', many(10, 200, 90_000), 60_000],
  ])('%s', (_what, obs, p99) => {
    const q = quantileMs(counts(obs).buckets, 0.99);
    if (p99 === undefined) expect(q).toBeUndefined();
    else expect(q).toBeCloseTo(p99, 1);
  });
});

describe('trafficOf', () => {
  it('5xx and upstream failures are errors, 4xx are not; reported counters add in', () => {
    const c = counts([...many(90, 200, 5), ...many(4, 404, 5), ...many(3, 503, 5), ...many(3, 'up', 5)], [50, 2]);
    expect(trafficOf(c)).toEqual({ requests: 150, errors: 8, p99Ms: expect.any(Number) });
  });

  it('heartbeat-reported counts alone have no latency', () => {
    expect(trafficOf(counts([], [70, 1]))).toEqual({ requests: 70, errors: 1 });
  });
});

describe('deltaCounts and deltaOfSources', () => {
  const a = counts(many(10, 200, 5));
  const b = addInto(counts(many(10, 200, 5)), counts([...many(5, 500, 50), ...many(1, 'up', 3000)], [7, 1]));

  it('subtracts the last reading', () => {
    expect(trafficOf(deltaCounts(b, a))).toEqual({ requests: 13, errors: 7, p99Ms: expect.any(Number) });
    expect(trafficOf(deltaCounts(a, a))).toEqual({ requests: 0, errors: 0 });
  });

  it('takes a first reading whole, and a reading whose counters went down (a restart) whole', () => {
    expect(deltaCounts(b, undefined)).toEqual(b);
    const restarted = counts(many(3, 200, 5));
    expect(deltaCounts(restarted, b)).toEqual(restarted);
  });

  it('sums each source\'s interval: a vanished source adds nothing, a new one whole', () => {
    const before = new Map([['r1', a], ['gone', b]]);
    const now = new Map([['r1', b], ['new', counts(many(4, 200, 1))]]);
    expect(trafficOf(deltaOfSources(now, before))).toMatchObject({ requests: 17, errors: 7 });
  });

  it('counts stay JSON (they travel through Redis)', () => {
    expect(JSON.parse(JSON.stringify(b))).toEqual(b);
  });
});

describe('IntervalReader', () => {
  it('gives each version what grew since its own last take; the first take is everything so far', () => {
    const entries = [{ service: 'lobby', version: '1.6.0', counts: counts(many(10, 200, 5)) }, { service: 'lobby', version: '1.5.0', counts: counts(many(3, 500, 5)) }];
    const reader = new IntervalReader({ all: () => entries });
    expect(reader.take('lobby', '1.6.0')).toMatchObject({ requests: 10, errors: 0 });
    addInto(entries[0]!.counts, counts(many(2, 'up', 5)));
    expect(reader.take('lobby', '1.6.0')).toMatchObject({ requests: 2, errors: 2 });
    expect(reader.take('lobby', '1.5.0')).toMatchObject({ requests: 3, errors: 3 });
    expect(reader.take('lobby', '9.9.9')).toEqual({ requests: 0, errors: 0 });
  });
});

describe('restartsBetween', () => {
  const p = (id: string, restarts: number, host?: string): RestartReading => ({ id, restarts, ...(host === undefined ? {} : { host }) });
  it.each<[string, RestartReading[] | undefined, RestartReading[], number]>([
    ['no change', [p('lobby@1.5.0#0.g4', 2)], [p('lobby@1.5.0#0.g4', 2)], 0],
    ['grew by 3', [p('lobby@1.5.0#0.g4', 2)], [p('lobby@1.5.0#0.g4', 5)], 3],
    ['summed over the version\'s processes', [p('lobby@1.5.0#0.g4', 0), p('lobby@1.5.0#1.g4', 1)], [p('lobby@1.5.0#0.g4', 1), p('lobby@1.5.0#1.g4', 3)], 3],
    ['other versions and services ignored', [], [p('lobby@1.4.0#0.g1', 9), p('chat@1.5.0#0.g1', 9), p('switchyard-router', 9)], 0],
    ['a process first seen counts whole', [p('lobby@1.5.0#0.g4', 0)], [p('lobby@1.5.0#0.g4', 0), p('lobby@1.5.0#1.g9', 2)], 2],
    ['no earlier list: every count whole', undefined, [p('lobby@1.5.0#0.g4', 4)], 4],
    ['a count that went down counts whole', [p('lobby@1.5.0#0.g4', 7)], [p('lobby@1.5.0#0.g4', 1)], 1],
    ['the same name on two hosts is two processes', [p('lobby@1.5.0#0.g4', 1, 'a')], [p('lobby@1.5.0#0.g4', 1, 'a'), p('lobby@1.5.0#0.g4', 1, 'b')], 1],
  ])('%s', (_what, before, now, expected) => {
    expect(restartsBetween(before, now, 'lobby', '1.5.0')).toBe(expected);
  });
});
