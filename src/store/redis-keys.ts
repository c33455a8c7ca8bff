/**
 * The keys one state uses in Redis, all under `<prefix>:` (coordination.prefix):
 *
 * - `<prefix>:policy:head`       the live generation (a number);
 * - `<prefix>:policy:rev:<g>`    revision g, the policy JSON, written once (SET NX), never changed;
 * - `<prefix>:lease:fence`       the newest drain-leader lease number (INCR); a commit carrying an
 *                                older number is refused;
 * - `<prefix>:policy:changed`    the pub/sub channel; each commit publishes its generation.
 */
export interface RedisKeys {
  head: string;
  revision(generation: number): string;
  fence: string;
  channel: string;
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    head: `${prefix}:policy:head`,
    revision: (generation) => `${prefix}:policy:rev:${generation}`,
    fence: `${prefix}:lease:fence`,
    channel: `${prefix}:policy:changed`,
  };
}

/**
 * The commit, atomic in Redis: checks the head generation (and the fencing
 * token when one is given), writes the revision once, moves the head and
 * publishes. KEYS: head, the new revision, fence. ARGV: expected generation
 * (-1: no policy yet), revision text, fencing token ('' for none), channel.
 * Returns {status, number}: ok/new generation, conflict/head, fenced/newest lease, taken/head.
 */
export const COMMIT_SCRIPT = `
local raw = redis.call('GET', KEYS[1])
local head = -1
if raw then head = tonumber(raw) end
local expected = tonumber(ARGV[1])
if head ~= expected then return {'conflict', head} end
if ARGV[3] ~= '' then
  local lease = tonumber(redis.call('GET', KEYS[3]) or '0')
  if lease > tonumber(ARGV[3]) then return {'fenced', lease} end
end
local nextGeneration = expected + 1
if not redis.call('SET', KEYS[2], ARGV[2], 'NX') then return {'taken', head} end
redis.call('SET', KEYS[1], nextGeneration)
redis.call('PUBLISH', ARGV[4], nextGeneration)
return {'ok', nextGeneration}
`;
