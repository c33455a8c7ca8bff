/**
 * Canary selection by a stable hash of the terminal id, so a terminal stays on
 * the same side of the canary across logins, router restarts and routers:
 * no clock, no randomness, no per-process seed.
 *
 * The hash is FNV-1a 32-bit over the UTF-8 bytes of the id (so any language
 * can reproduce it), followed by the murmur3 finaliser: plain FNV-1a spreads
 * near-identical ids like "t-1", "t-2" unevenly over the high bits (2 points
 * off at weight 90 over "t-0".."t-9999"); the finaliser evens them out.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const TWO_TO_32 = 4294967296;

/** FNV-1a 32-bit of the UTF-8 encoding of `text`, encoded on the fly to avoid an allocation per login. */
export function fnv1a32(text: string): number {
  let h = FNV_OFFSET;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    } else if (c >= 0xd800 && c <= 0xdfff) {
      // A lone surrogate encodes as U+FFFD, as TextEncoder does.
      c = 0xfffd;
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME);
    } else if (c < 0x10000) {
      h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    } else {
      h = Math.imul(h ^ (0xf0 | (c >> 18)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    }
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
  }
  return h >>> 0;
}

function finalise(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The terminal's place in [0, 100): it is in a canary of weight w when its bucket is below w. */
export function canaryBucket(terminalId: string): number {
  return (finalise(fnv1a32(terminalId)) / TWO_TO_32) * 100;
}

/**
 * Whether this terminal belongs to a canary of `weightPercent`. Weight 0 (or
 * anything not a positive number) takes nobody; 100 or more takes everybody.
 */
export function inCanary(terminalId: string, weightPercent: number): boolean {
  if (!(weightPercent > 0)) return false;
  return canaryBucket(terminalId) < weightPercent;
}
