import { SIGNATURE_WINDOW_S } from '../protocol/signing.js';

/**
 * How much the replay memory holds (docs/signing.md, "What the router
 * checks"). Every key may always hold `guaranteed` signatures of the window;
 * beyond that it draws on one `pool` shared by all keys, up to `perKey` in
 * all. An honest process beating every second holds about 31, or 61 when
 * its clock runs 30 s fast (a signature is held until its timestamp is 30 s
 * old), so no honest signer comes near the guaranteed share.
 */
export interface ReplayLimits {
  guaranteed: number;
  perKey: number;
  pool: number;
}

export const DEFAULT_REPLAY_LIMITS: ReplayLimits = { guaranteed: 1_000, perKey: 10_000, pool: 200_000 };

/** How often keys that went quiet are looked at and their expired signatures dropped. */
const SWEEP_EVERY_S = 5;

/**
 * A signature's first 128 bits as a 16-character string: as unlikely to
 * collide as the whole, in a quarter of the memory, and a fresh string (a
 * slice would keep the request's header text alive).
 */
const idOf = (signature: string): string => Buffer.from(signature.slice(0, 32), 'hex').toString('latin1');

export type Admission = { ok: true } | { ok: false; reason: 'replayed' } | { ok: false; reason: 'too_many'; retryAfterS: number };

/** One key's signatures inside the window, by the second they name: a whole second leaves the window at once. */
class KeyMemory {
  readonly bySecond = new Map<number, Set<string>>();
  size = 0;
  oldest = Infinity;

  /** Drops the seconds before `edge`; returns how many signatures went. */
  prune(edge: number): number {
    if (this.oldest >= edge) return 0;
    let dropped = 0;
    let oldest = Infinity;
    for (const [second, ids] of this.bySecond) {
      if (second < edge) {
        dropped += ids.size;
        this.bySecond.delete(second);
      } else if (second < oldest) {
        oldest = second;
      }
    }
    this.size -= dropped;
    this.oldest = oldest;
    return dropped;
  }

  has(second: number, id: string): boolean {
    return this.bySecond.get(second)?.has(id) === true;
  }

  add(second: number, id: string): void {
    let ids = this.bySecond.get(second);
    if (ids === undefined) {
      ids = new Set();
      this.bySecond.set(second, ids);
    }
    ids.add(id);
    this.size += 1;
    if (second < this.oldest) this.oldest = second;
  }
}

/**
 * The signatures accepted inside the time window, kept per key id so no
 * signature is accepted twice. Nothing inside the window is ever forgotten
 * to make room (a forgotten one could be replayed, and a floor raised to
 * refuse it would refuse honest requests too): a key that has used up its
 * share is refused new signatures instead (`too_many`) until its oldest ones
 * leave the window. So a flood by one key, signed at any time the window
 * allows, refuses only that key.
 */
export class ReplayMemory {
  private readonly keys = new Map<string, KeyMemory>();
  /** Signatures held beyond the keys' guaranteed shares. */
  private pooled = 0;
  private total = 0;
  private lastSweepS = -Infinity;

  constructor(private readonly limits: ReplayLimits = DEFAULT_REPLAY_LIMITS) {}

  /** Remembers `signature` of `keyId`, signed at `timestampS` (already checked to be inside the window at `nowS`). */
  admit(keyId: string, signature: string, timestampS: number, nowS: number): Admission {
    const edge = nowS - SIGNATURE_WINDOW_S;
    this.sweep(nowS, edge);
    let memory = this.keys.get(keyId);
    if (memory !== undefined) this.prune(memory, edge);
    const id = idOf(signature);
    if (memory?.has(timestampS, id) === true) return { ok: false, reason: 'replayed' };
    const size = memory?.size ?? 0;
    const fromPool = size >= this.limits.guaranteed;
    if (size >= this.limits.perKey || (fromPool && this.pooled >= this.limits.pool)) {
      // Its oldest second leaves the window SIGNATURE_WINDOW_S + 1 seconds after it was signed.
      const retryAfterS = Math.max(1, (memory?.oldest ?? nowS) + SIGNATURE_WINDOW_S + 1 - nowS);
      return { ok: false, reason: 'too_many', retryAfterS };
    }
    if (memory === undefined) {
      memory = new KeyMemory();
      this.keys.set(keyId, memory);
    }
    memory.add(timestampS, id);
    this.total += 1;
    if (fromPool) this.pooled += 1;
    return { ok: true };
  }

  /** Signatures held, in all. */
  get size(): number {
    return this.total;
  }

  /** Key ids with signatures held. */
  get keyCount(): number {
    return this.keys.size;
  }

  private prune(memory: KeyMemory, edge: number): void {
    const before = memory.size;
    const dropped = memory.prune(edge);
    if (dropped === 0) return;
    this.total -= dropped;
    this.pooled -= Math.max(0, before - this.limits.guaranteed) - Math.max(0, memory.size - this.limits.guaranteed);
  }

  /** Keys that went quiet are never pruned by their own requests: every few seconds, prune them all. */
  private sweep(nowS: number, edge: number): void {
    if (nowS - this.lastSweepS < SWEEP_EVERY_S) return;
    this.lastSweepS = nowS;
    for (const [keyId, memory] of this.keys) {
      this.prune(memory, edge);
      if (memory.size === 0) this.keys.delete(keyId);
    }
  }
}
