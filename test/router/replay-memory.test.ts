import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ReplayMemory } from '../../src/router/replay-memory.js';

/**
 * The replay memory on its own (src/router/replay-memory.ts): per key id,
 * nothing inside the window forgotten, a key over its share refused alone,
 * memory given back as signatures leave the window.
 */

const NOW = 1_764_400_000;
/** A signature-like value: 64 hex characters that differ from the first one on. */
const sig = (n: number) => createHash('sha256').update(String(n)).digest('hex');

describe('ReplayMemory', () => {
  it('refuses a signature seen before, per key: the same signature under another key id is another request', () => {
    const m = new ReplayMemory();
    expect(m.admit('a@1.0.0#0', sig(1), NOW, NOW)).toEqual({ ok: true });
    expect(m.admit('a@1.0.0#0', sig(1), NOW, NOW)).toEqual({ ok: false, reason: 'replayed' });
    expect(m.admit('a@1.0.0#1', sig(1), NOW, NOW)).toEqual({ ok: true });
  });

  it('keeps a signature signed 29 s ahead until it leaves the window, 59 s later', () => {
    const m = new ReplayMemory();
    expect(m.admit('k', sig(1), NOW + 29, NOW).ok).toBe(true);
    for (const later of [1, 30, 58, 59]) expect(m.admit('k', sig(1), NOW + 29, NOW + later)).toEqual({ ok: false, reason: 'replayed' });
    // From NOW + 60 the verifier refuses it as expired before asking the memory; by the next sweep the memory has let it go.
    expect(m.admit('other', sig(2), NOW + 65, NOW + 65).ok).toBe(true);
    expect(m.size).toBe(1);
  });

  it('a key at its bound is refused (too_many, with when to retry); the others are not', () => {
    const m = new ReplayMemory({ guaranteed: 2, perKey: 5, pool: 100 });
    for (let i = 0; i < 5; i++) expect(m.admit('flood', sig(i), NOW + 29, NOW).ok).toBe(true);
    expect(m.admit('flood', sig(99), NOW, NOW)).toEqual({ ok: false, reason: 'too_many', retryAfterS: 60 });
    expect(m.admit('honest', sig(1), NOW, NOW).ok).toBe(true);
    // Nothing of the flood was forgotten to make room.
    expect(m.admit('flood', sig(0), NOW + 29, NOW + 10)).toEqual({ ok: false, reason: 'replayed' });
  });

  it('the shared pool runs out for the keys drawing on it, never for a key inside its guaranteed share', () => {
    const m = new ReplayMemory({ guaranteed: 2, perKey: 1000, pool: 6 });
    for (let i = 0; i < 8; i++) expect(m.admit('a', sig(i), NOW, NOW).ok).toBe(true);
    expect(m.admit('a', sig(8), NOW, NOW)).toMatchObject({ ok: false, reason: 'too_many' });
    expect(m.admit('b', sig(0), NOW, NOW).ok).toBe(true);
    expect(m.admit('b', sig(1), NOW, NOW).ok).toBe(true);
    expect(m.admit('b', sig(2), NOW, NOW)).toMatchObject({ ok: false, reason: 'too_many' });
    expect(m.size).toBe(10);
  });

  it('gives memory and pool back as signatures leave the window, and drops keys that went quiet', () => {
    const m = new ReplayMemory({ guaranteed: 1, perKey: 1000, pool: 3 });
    for (let i = 0; i < 4; i++) expect(m.admit('a', sig(i), NOW - 30 + i, NOW).ok).toBe(true);
    for (let i = 0; i < 50; i++) m.admit(`quiet@1.0.0#${i}`, sig(i), NOW, NOW);
    expect(m.keyCount).toBe(51);
    // Two seconds on, a's two oldest seconds have left the window: two of its pooled places are free again.
    expect(m.admit('a', sig(10), NOW + 2, NOW + 2).ok).toBe(true);
    expect(m.admit('a', sig(11), NOW + 2, NOW + 2).ok).toBe(true);
    expect(m.admit('a', sig(12), NOW + 2, NOW + 2)).toMatchObject({ ok: false, reason: 'too_many' });
    // A window and a sweep later only the key that spoke is held.
    expect(m.admit('b', sig(1), NOW + 40, NOW + 40).ok).toBe(true);
    expect(m.keyCount).toBe(1);
    expect(m.size).toBe(1);
  });
});
