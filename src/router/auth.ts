import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SIGNATURE_HEADERS, SIGNATURE_WINDOW_S, deriveKey, signature, type SignedParts } from '../protocol/signing.js';
import { ReplayMemory, type ReplayLimits } from './replay-memory.js';

/**
 * Compares a presented token with the shared secret in constant time.
 * Both sides are hashed first so their lengths never leak through timing.
 */
export function tokenMatches(presented: string | undefined, secret: string): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}

/** Loopback peers may read /metrics unsigned (DESIGN.md). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** Derived keys kept: about 200 bytes each, so a fleet of 50,000 processes costs about 10 MB. */
const MAX_CACHED_KEYS = 50_000;

export type AuthError = 'unsigned' | 'wrong_key' | 'expired' | 'bad_signature' | 'replayed' | 'too_many';
export type AuthResult = { ok: true; keyId: string } | { ok: false; error: AuthError; message: string; retryAfterS?: number };

/** The signature headers of a request, before its body is read; a failure when they are missing or malformed. */
export type SignatureHeaders = Omit<SignedParts, 'bodySha256'> & { signature: string };

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

const HOW = `sign it as docs/signing.md says (headers ${Object.values(SIGNATURE_HEADERS).join(', ')}); bearer tokens are not accepted`;

export function signatureHeaders(req: IncomingMessage): SignatureHeaders | { ok: false; error: AuthError; message: string } {
  const keyId = header(req, SIGNATURE_HEADERS.keyId);
  const timestamp = header(req, SIGNATURE_HEADERS.timestamp);
  const nonce = header(req, SIGNATURE_HEADERS.nonce);
  const sig = header(req, SIGNATURE_HEADERS.signature);
  if (keyId === undefined || timestamp === undefined || nonce === undefined || sig === undefined) {
    return { ok: false, error: 'unsigned', message: `The request is not signed: ${HOW}.` };
  }
  if (keyId.length > 400 || !/^[0-9]{1,12}$/.test(timestamp) || !/^[0-9a-f]{16,128}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(sig)) {
    return { ok: false, error: 'unsigned', message: `The signature headers are malformed (timestamp in whole seconds, nonce and signature in lower-case hex): ${HOW}.` };
  }
  return { method: req.method ?? 'GET', path: req.url ?? '/', timestamp, keyId, nonce, signature: sig };
}

/**
 * Verifies signed requests against keys derived from the router's secret:
 * the key id must be one the endpoint allows, the timestamp inside the
 * window, the HMAC right (compared in constant time), and the signature new.
 */
export class RequestVerifier {
  private readonly replays: ReplayMemory;

  constructor(
    private readonly secret: string,
    options: { replayLimits?: ReplayLimits; wallNow?: () => number } = {},
  ) {
    this.replays = new ReplayMemory(options.replayLimits);
    this.wallNow = options.wallNow ?? Date.now;
  }

  private readonly wallNow: () => number;
  /**
   * Derived keys by key id: deriving is an HMAC per request otherwise.
   * Bounded (any id may be asked for): past the bound the oldest is
   * forgotten, so a fleet larger than the bound costs one more HMAC for the
   * ids forgotten, never a cold cache for all.
   */
  private readonly keys = new Map<string, string>();

  private keyOf(keyId: string): string {
    let key = this.keys.get(keyId);
    if (key === undefined) {
      if (this.keys.size >= MAX_CACHED_KEYS) this.keys.delete(this.keys.keys().next().value as string);
      key = deriveKey(this.secret, keyId);
      this.keys.set(keyId, key);
    }
    return key;
  }

  verify(h: SignatureHeaders, bodySha256: string, allowed: (keyId: string) => boolean): AuthResult {
    if (!allowed(h.keyId)) return { ok: false, error: 'wrong_key', message: `Key id "${h.keyId.slice(0, 80)}" may not make this request.` };
    const nowS = Math.floor(this.wallNow() / 1000);
    const ts = Number(h.timestamp);
    if (Math.abs(nowS - ts) > SIGNATURE_WINDOW_S) {
      const off = ts > nowS ? `${ts - nowS} s ahead of` : `${nowS - ts} s behind`;
      return { ok: false, error: 'expired', message: `The request's timestamp is ${off} the router's clock; at most ${SIGNATURE_WINDOW_S} s either way is accepted (keep the clocks in sync with NTP).` };
    }
    const expected = Buffer.from(signature(this.keyOf(h.keyId), { ...h, bodySha256 }), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(h.signature, 'hex'))) {
      return { ok: false, error: 'bad_signature', message: `The signature does not match: ${HOW}, with the key switchyard gave this key id.` };
    }
    const admitted = this.replays.admit(h.keyId, h.signature, ts, nowS);
    if (admitted.ok) return { ok: true, keyId: h.keyId };
    if (admitted.reason === 'replayed') {
      return { ok: false, error: 'replayed', message: 'This signature was already used: sign every request afresh (new timestamp and nonce).' };
    }
    return {
      ok: false,
      error: 'too_many',
      retryAfterS: admitted.retryAfterS,
      message: `Key id "${h.keyId.slice(0, 80)}" signed more requests inside the ${SIGNATURE_WINDOW_S} s window than the router remembers for one key: send fewer (a heartbeat every interval), and try again in ${admitted.retryAfterS} s.`,
    };
  }

  /** Signatures held against replay (for tests of the bound). */
  get remembered(): number {
    return this.replays.size;
  }
}
