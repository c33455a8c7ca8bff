/**
 * Every key one state uses in Redis, all under `<prefix>:` (coordination.prefix).
 * The policy:
 *
 * - `<prefix>:policy:head`       the live generation (a number);
 * - `<prefix>:policy:rev:<g>`    revision g, the policy JSON, written once (SET NX), never changed;
 * - `<prefix>:policy:changed`    the pub/sub channel; each commit publishes its generation.
 *
 * What several routers share:
 *
 * - `<prefix>:hb:<process id>`   the newest heartbeat of a process any router accepted,
 *                                JSON, expiring when the process would go stale;
 * - `<prefix>:router:<id>`       one router's record (id, url), expiring unless renewed;
 * - `<prefix>:routers`           the set of router ids that have registered;
 * - `<prefix>:lease:holder`      the drain leader's lease: "<router id>|<owner id>|<fence>", with expiry;
 * - `<prefix>:lease:fence`       the newest lease number (INCR); a policy commit carrying an
 *                                older number is refused.
 * - `<prefix>:metrics:<id>`      one router's request counts per service and version (growing
 *                                counters since it started), JSON, expiring unless rewritten;
 * - `<prefix>:metrics:routers`   the set of router ids that have written such a record.
 */
export interface RedisKeys {
  head: string;
  revision(generation: number): string;
  channel: string;
  heartbeat(processId: string): string;
  router(id: string): string;
  routers: string;
  lease: string;
  fence: string;
  metrics(routerId: string): string;
  metricsRouters: string;
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    head: `${prefix}:policy:head`,
    revision: (generation) => `${prefix}:policy:rev:${generation}`,
    channel: `${prefix}:policy:changed`,
    heartbeat: (id) => `${prefix}:hb:${id}`,
    router: (id) => `${prefix}:router:${id}`,
    routers: `${prefix}:routers`,
    lease: `${prefix}:lease:holder`,
    fence: `${prefix}:lease:fence`,
    metrics: (id) => `${prefix}:metrics:${id}`,
    metricsRouters: `${prefix}:metrics:routers`,
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

/**
 * Values and remaining lifetimes of many keys in one round trip. KEYS: the
 * keys. Returns a flat list: value (or false), milliseconds left (or -2).
 * The remaining lifetime is how routers tell a record's age without
 * trusting each other's clocks: the writer sets it to what is left of the
 * stale window, so age = window − lifetime left.
 */
export const READ_WITH_TTL_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  out[#out + 1] = redis.call('GET', key)
  out[#out + 1] = redis.call('PTTL', key)
end
return out
`;

/**
 * Takes or renews the lease. KEYS: lease, fence. ARGV: "<router id>|<owner id>", lease ms.
 * A free lease is taken with a new fencing token from INCR; the holder's
 * own lease is renewed with its token unchanged. Returns {1, token} when
 * this router holds it, else {0, holder value}.
 */
export const LEASE_SCRIPT = `
local held = redis.call('GET', KEYS[1])
if not held then
  local fence = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
  return {1, fence}
end
local prefix = ARGV[1] .. '|'
if string.sub(held, 1, #prefix) == prefix then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(string.sub(held, #prefix + 1))}
end
return {0, held}
`;

/** Gives the lease up if this router still holds it. KEYS: lease. ARGV: "<router id>|<owner id>|". */
export const RELEASE_SCRIPT = `
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, #ARGV[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/**
 * The routers whose records have not expired, and the lease holder. KEYS:
 * routers set, lease. ARGV: the router key prefix ("<prefix>:router:").
 * Ids whose record expired are removed from the set. Returns a flat list:
 * lease value (or false), then record, milliseconds left, for each router.
 */
export const LIST_ROUTERS_SCRIPT = `
local out = { redis.call('GET', KEYS[2]) }
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. id
  local record = redis.call('GET', key)
  if record then
    out[#out + 1] = record
    out[#out + 1] = redis.call('PTTL', key)
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out
`;

/**
 * Every live record of a set of routers, in one round trip. KEYS: the set.
 * ARGV: the record key prefix ("<prefix>:metrics:"). Ids whose record
 * expired are removed from the set. Returns a flat list: id, record, …
 */
export const READ_RECORDS_SCRIPT = `
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local record = redis.call('GET', ARGV[1] .. id)
  if record then
    out[#out + 1] = id
    out[#out + 1] = record
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out
`;
