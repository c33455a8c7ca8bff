import { describe, expect, it } from 'vitest';
import { canaryBucket, fnv1a32, inCanary } from '../../src/core/canary.js';

const ids = Array.from({ length: 10_000 }, (_, i) => `t-${i}`);

describe('fnv1a32', () => {
  // Published FNV-1a 32-bit test vectors, plus UTF-8 cases checked against TextEncoder.
  it.each([
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ] as const)('%j hashes to the published value', (text, expected) => {
    expect(fnv1a32(text)).toBe(expected);
  });

  it.each([['héllo'], ['日本'], ['😀x'], ['\ud800x'], ['x\udc00']])('%j hashes its UTF-8 bytes', (text) => {
    let h = 0x811c9dc5;
    for (const b of new TextEncoder().encode(text)) h = Math.imul(h ^ b, 0x01000193);
    expect(fnv1a32(text)).toBe(h >>> 0);
  });
});

describe('canaryBucket', () => {
  // Pinned: changing the hash would move terminals across the canary line mid-rollout.
  it.each([
    ['t-0', 76.89128986094147],
    ['t-1', 25.190698145888746],
    ['lobby-terminal-42', 43.788828793913126],
    ['', 66.89221884589642],
  ] as const)('%j is pinned at %f', (id, bucket) => {
    expect(canaryBucket(id)).toBe(bucket);
  });

  it.each([[''], ['x'.repeat(1_000_000)], ['\u0000'], ['日本語'], ['__proto__']])('%#: stays within [0, 100)', (id) => {
    const b = canaryBucket(id);
    expect(b).toBeGreaterThanOrEqual(0);
    expect(b).toBeLessThan(100);
  });
});

describe('inCanary', () => {
  it.each([[1], [10], [25], [50], [90]])('weight %i takes that share of 10,000 ids, within 3 points', (weight) => {
    const share = (ids.filter((id) => inCanary(id, weight)).length / ids.length) * 100;
    expect(Math.abs(share - weight)).toBeLessThanOrEqual(3);
  });

  it.each([
    [0, 0],
    [-5, 0],
    [NaN, 0],
    [100, 10_000],
    [150, 10_000],
  ])('weight %f takes %i of 10,000 ids', (weight, count) => {
    expect(ids.filter((id) => inCanary(id, weight)).length).toBe(count);
  });

  it('the same id always gets the same answer', () => {
    const first = ids.map((id) => inCanary(id, 25));
    for (let round = 0; round < 3; round++) expect(ids.map((id) => inCanary(id, 25))).toEqual(first);
  });

  it('raising the weight only adds terminals, never moves one out', () => {
    for (const id of ids.slice(0, 2000)) {
      if (inCanary(id, 10)) expect(inCanary(id, 50)).toBe(true);
    }
  });
});
