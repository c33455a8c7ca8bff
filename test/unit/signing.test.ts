import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { RequestVerifier, signatureHeaders, type SignatureHeaders } from '../../src/router/auth.js';
import { CLI_KEY_ID, bodySha256, deriveKey, signRequest, signature, stringToSign } from '../../src/protocol/signing.js';

// The test vector of docs/signing.md.
const SECRET = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
const KEY_ID = 'lobby@1.5.0#0.g42';
const BODY = '{"service":"lobby","version":"1.5.0","process":"lobby@1.5.0#0.g42","seq":7,"terminals":{"1.5.0":3}}';
const PARTS = { method: 'POST', path: '/v1/heartbeat', timestamp: '1764400000', keyId: KEY_ID, nonce: '00112233445566778899aabbccddeeff', bodySha256: bodySha256(BODY) };

describe('the scheme (docs/signing.md test vector)', () => {
  it('derives keys, hashes the body and signs as documented', () => {
    expect(deriveKey(SECRET, KEY_ID)).toBe('ff99c74ca4dbb87d779b811e52c0bf212de1424ec82577c9d60dd85f5e20fc3f');
    expect(deriveKey(SECRET, CLI_KEY_ID)).toBe('ea6ca5ba6134e1c5951a2b0cba3da48ccebb14451617f278bf74edff796e7480');
    expect(PARTS.bodySha256).toBe('73d9b8dd9b02262344edbd386b698aa61a42f10726db5f89e3b897ef548a02c7');
    expect(stringToSign(PARTS)).toBe(`switchyard-v1\nPOST\n/v1/heartbeat\n1764400000\n${KEY_ID}\n00112233445566778899aabbccddeeff\n${PARTS.bodySha256}`);
    expect(signature(deriveKey(SECRET, KEY_ID), PARTS)).toBe('ab969f5121c4d2ce9c4ef8b5020c5116e3eee994be23549e68d5791c424f04f8');
  });

  it('every process gets its own key, none equal to the secret or to another\'s', () => {
    const keys = ['lobby@1.5.0#0', 'lobby@1.5.0#1', 'lobby@1.5.0#0.g42', 'chat@2.0.0#0', CLI_KEY_ID].map((id) => deriveKey(SECRET, id));
    expect(new Set([...keys, SECRET]).size).toBe(keys.length + 1);
  });

  it('a fresh nonce every request: the same request signed twice gives two signatures', () => {
    const a = signRequest('k', KEY_ID, 'GET', '/v1/status', '', 1_764_400_000_000);
    const b = signRequest('k', KEY_ID, 'GET', '/v1/status', '', 1_764_400_000_000);
    expect(a['x-switchyard-timestamp']).toBe('1764400000');
    expect(a['x-switchyard-signature']).not.toBe(b['x-switchyard-signature']);
  });
});

/** The headers of a signed request as the router parses them. */
function parsed(headers: Record<string, string>, method = 'POST', url = '/v1/heartbeat'): SignatureHeaders {
  const h = signatureHeaders({ headers, method, url } as unknown as IncomingMessage);
  if ('ok' in h) throw new Error(h.message);
  return h;
}

describe('RequestVerifier', () => {
  const anyProcess = (id: string) => id.includes('@');
  const at = (ms: number) => ({ wallNow: () => ms });
  const T = 1_764_400_000_000;
  const signed = (nowMs: number, body = BODY) => parsed(signRequest(deriveKey(SECRET, KEY_ID), KEY_ID, 'POST', '/v1/heartbeat', body, nowMs));

  it.each([
    ['on time', 0, true],
    ['30 s early (the edge)', -30_000, true],
    ['30 s late (the edge)', 30_999, true],
    ['31 s old', -31_000, false],
    ['31 s ahead', 31_000, false],
  ] as const)('timestamp %s', (_name, offset, ok) => {
    const result = new RequestVerifier(SECRET, at(T)).verify(signed(T + offset), bodySha256(BODY), anyProcess);
    expect(result.ok).toBe(ok);
    if (!result.ok) expect(result.error).toBe('expired');
  });

  it('refuses another body, another path, another key id and a key id the endpoint does not allow', () => {
    const v = new RequestVerifier(SECRET, at(T));
    const h = signed(T);
    expect(v.verify(h, bodySha256(`${BODY} `), anyProcess)).toMatchObject({ ok: false, error: 'bad_signature' });
    expect(v.verify({ ...h, path: '/v1/heartbeat?x' }, bodySha256(BODY), anyProcess)).toMatchObject({ ok: false, error: 'bad_signature' });
    expect(v.verify({ ...h, keyId: 'lobby@1.5.0#1' }, bodySha256(BODY), anyProcess)).toMatchObject({ ok: false, error: 'bad_signature' });
    expect(v.verify(h, bodySha256(BODY), (id) => id === CLI_KEY_ID)).toMatchObject({ ok: false, error: 'wrong_key' });
    // None of those used it up.
    expect(v.verify(h, bodySha256(BODY), anyProcess)).toEqual({ ok: true, keyId: KEY_ID });
  });

  it('a signature is good once, inside the window and after it', () => {
    let now = T;
    const v = new RequestVerifier(SECRET, { wallNow: () => now });
    const h = signed(T);
    expect(v.verify(h, bodySha256(BODY), anyProcess).ok).toBe(true);
    expect(v.verify(h, bodySha256(BODY), anyProcess)).toMatchObject({ ok: false, error: 'replayed' });
    now = T + 29_000;
    expect(v.verify(h, bodySha256(BODY), anyProcess)).toMatchObject({ ok: false, error: 'replayed' });
    now = T + 31_000;
    expect(v.verify(h, bodySha256(BODY), anyProcess)).toMatchObject({ ok: false, error: 'expired' });
  });

  it('remembers a bounded number of signatures per key, forgets none inside the window, and refuses only the key over its bound', () => {
    const v = new RequestVerifier(SECRET, { replayLimits: { guaranteed: 5, perKey: 10, pool: 100 }, ...at(T + 25_000) });
    const first = signed(T);
    expect(v.verify(first, bodySha256(BODY), anyProcess).ok).toBe(true);
    for (let i = 1; i < 10; i++) expect(v.verify(signed(T + i * 1000), bodySha256(BODY), anyProcess).ok).toBe(true);
    expect(v.verify(signed(T + 20_000), bodySha256(BODY), anyProcess)).toMatchObject({ ok: false, error: 'too_many' });
    expect(v.remembered).toBe(10);
    // Still remembered, so still refused as a replay.
    expect(v.verify(first, bodySha256(BODY), anyProcess)).toMatchObject({ ok: false, error: 'replayed' });
    // Another key is not touched by the first one's bound.
    const other = 'lobby@1.5.0#1';
    expect(v.verify(parsed(signRequest(deriveKey(SECRET, other), other, 'POST', '/v1/heartbeat', BODY, T + 25_000)), bodySha256(BODY), anyProcess).ok).toBe(true);
  });

  it('forgets signatures once they are outside the window', () => {
    let now = T;
    const v = new RequestVerifier(SECRET, { wallNow: () => now });
    for (let i = 0; i < 50; i++) v.verify(signed(T), bodySha256(BODY), anyProcess);
    now = T + 40_000;
    expect(v.verify(signed(now), bodySha256(BODY), anyProcess).ok).toBe(true);
    expect(v.remembered).toBe(1);
  });

  it.each([
    ['no headers', {}],
    ['a bearer token', { authorization: `Bearer ${SECRET}` }],
    ['a timestamp in milliseconds with a dot', { 'x-switchyard-key-id': KEY_ID, 'x-switchyard-timestamp': '1764400000.5', 'x-switchyard-nonce': 'a'.repeat(32), 'x-switchyard-signature': 'b'.repeat(64) }],
    ['an upper-case signature', { 'x-switchyard-key-id': KEY_ID, 'x-switchyard-timestamp': '1764400000', 'x-switchyard-nonce': 'a'.repeat(32), 'x-switchyard-signature': 'B'.repeat(64) }],
    ['a short nonce', { 'x-switchyard-key-id': KEY_ID, 'x-switchyard-timestamp': '1764400000', 'x-switchyard-nonce': 'abc', 'x-switchyard-signature': 'b'.repeat(64) }],
  ])('%s is unsigned', (_name, headers) => {
    expect(signatureHeaders({ headers, method: 'POST', url: '/v1/heartbeat' } as unknown as IncomingMessage)).toMatchObject({ ok: false, error: 'unsigned' });
  });
});
