import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares a presented bearer token with the shared secret in constant time.
 * Both sides are hashed first so their lengths never leak through timing.
 */
export function tokenMatches(presented: string | undefined, secret: string): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}

/** Loopback peers may read /metrics without a token (DESIGN.md). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
