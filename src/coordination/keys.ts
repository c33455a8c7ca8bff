/**
 * The keys several routers share in Redis, beside the policy's keys
 * (src/store/redis-keys.ts), all under `<prefix>:`:
 *
 * - `<prefix>:hb:<process id>`   the newest heartbeat of a process any router accepted,
 *                                JSON, expiring when the process would go stale;
 * - `<prefix>:router:<id>`       one router's record (id, url), expiring unless renewed;
 * - `<prefix>:routers`           the set of router ids that have registered;
 * - `<prefix>:lease:holder`      the drain leader's lease: "<router id>|<owner id>|<fence>", with expiry;
 * - `<prefix>:lease:fence`       the newest lease number (INCR); shared with the policy commit script.
 */
export interface CoordinationKeys {
  heartbeat(processId: string): string;
  router(id: string): string;
  routers: string;
  lease: string;
  fence: string;
}

export function coordinationKeys(prefix: string): CoordinationKeys {
  return {
    heartbeat: (id) => `${prefix}:hb:${id}`,
    router: (id) => `${prefix}:router:${id}`,
    routers: `${prefix}:routers`,
    lease: `${prefix}:lease:holder`,
    fence: `${prefix}:lease:fence`,
  };
}

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
