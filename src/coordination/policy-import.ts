/**
 * Moving a file policy and its history into Redis (`switchyard init` on a
 * config that names Redis), in two kinds of atomic step. Readers find a
 * policy through its head key alone, so revisions written without a head
 * are invisible: the revisions go in first, in batches, and the head last,
 * in the same script as the head's own revision. A move killed halfway
 * leaves no head (nothing looks valid), and running it again finishes it.
 * Every step refuses to overwrite: a revision key that holds other text,
 * or a head that appeared meanwhile (another init won the race), stops it.
 */

/**
 * Revisions, written only where absent. KEYS: head, then the revision keys.
 * ARGV: their texts, in the same order. All are checked before any is
 * written. Returns {status, number}: ok/count, exists/head, differs/index
 * (1-based, among the revisions) of the first key holding other text.
 */
export const IMPORT_REVISIONS_SCRIPT = `
local head = redis.call('GET', KEYS[1])
if head then return {'exists', tonumber(head)} end
for i = 2, #KEYS do
  local held = redis.call('GET', KEYS[i])
  if held and held ~= ARGV[i - 1] then return {'differs', i - 1} end
end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[i - 1], 'NX') end
return {'ok', #KEYS - 1}
`;

/**
 * The head and its revision, then the publish. KEYS: head, the head's
 * revision. ARGV: generation, revision text, channel. Returns
 * {status, number}: ok/generation, exists/head, differs/generation.
 */
export const IMPORT_HEAD_SCRIPT = `
local head = redis.call('GET', KEYS[1])
if head then return {'exists', tonumber(head)} end
local held = redis.call('GET', KEYS[2])
if held and held ~= ARGV[2] then return {'differs', tonumber(ARGV[1])} end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return {'ok', tonumber(ARGV[1])}
`;
