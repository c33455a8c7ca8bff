/**
 * Redis URLs for `coordination.redis`: what switchyard accepts, the client
 * options each one means, and a redaction that every message naming Redis
 * goes through, so a password in a URL is never printed or logged.
 *
 * Accepted forms (the credentials and TLS are passed through to Redis):
 *   redis://[user[:password]@]host[:port][/db]
 *   rediss://…                                   (TLS)
 *   redis-sentinel://[user[:password]@]host:port[,host:port…][/db]?name=<master>
 * Query parameters other than a Sentinel's `name` are refused, so a URL
 * cannot switch on client options nobody reviewed.
 */

export interface RedisEndpoint {
  host: string;
  port: number;
}

export interface RedisTarget {
  /** A single server, or the master a set of Sentinels names. */
  kind: 'server' | 'sentinel';
  /** The server (kind "server") or the Sentinels (kind "sentinel"). */
  endpoints: RedisEndpoint[];
  /** The Sentinel master's name (kind "sentinel"). */
  masterName: string | undefined;
  db: number;
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
}

export const REDIS_URL_EXPECTED =
  'a Redis URL like redis://127.0.0.1:6379/0 (rediss:// for TLS, redis://user:password@host:port/db for ACLs, redis-sentinel://host:26379,host2:26379/0?name=mymaster for Sentinel)';

const DEFAULT_PORT = 6379;
const DEFAULT_SENTINEL_PORT = 26379;
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/;

/**
 * Replaces the password of every `scheme://user:password@` in `text` with
 * "***". Works on any text (an error message, a URL that does not parse),
 * so callers can pass whatever they are about to print.
 */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/[^\s/@:]*:)[^\s@]*@/g, '$1***@');
}

function endpoint(text: string, defaultPort: number): RedisEndpoint | undefined {
  const m = /^(.*?)(?::(\d{1,5}))?$/.exec(text);
  if (m === null || m[1] === undefined || !HOST.test(m[1])) return undefined;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

function decode(part: string | undefined): string | undefined {
  if (part === undefined || part === '') return undefined;
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

/** The target a URL names, or the reason it is not one switchyard accepts. */
export function parseRedisUrl(url: string): { ok: true; target: RedisTarget } | { ok: false; reason: string } {
  const m = /^(redis|rediss|redis-sentinel):\/\/(?:([^@/?#]*)@)?([^/?#]+)(?:\/(\d{0,5}))?(?:\?([^#]*))?$/.exec(url);
  if (m === null) return { ok: false, reason: 'not a redis://, rediss:// or redis-sentinel:// URL with a host' };
  const [, scheme, userinfo, hosts, dbText, query] = m as unknown as [string, string, string | undefined, string, string | undefined, string | undefined];
  const sentinel = scheme === 'redis-sentinel';
  const endpoints = hosts.split(',').map((h) => endpoint(h, sentinel ? DEFAULT_SENTINEL_PORT : DEFAULT_PORT));
  if (endpoints.some((e) => e === undefined)) return { ok: false, reason: `"${hosts}" is not host[:port]` };
  if (!sentinel && endpoints.length > 1) return { ok: false, reason: 'several hosts need redis-sentinel://' };
  const db = dbText === undefined || dbText === '' ? 0 : Number(dbText);
  if (db > 15) return { ok: false, reason: `database ${db} is out of range (0-15 on a default Redis)` };
  const params = new URLSearchParams(query ?? '');
  const extra = [...params.keys()].filter((k) => !(sentinel && k === 'name'));
  if (extra.length > 0) return { ok: false, reason: `unsupported query parameter ${extra.join(', ')}` };
  const masterName = params.get('name') ?? undefined;
  if (sentinel && (masterName === undefined || masterName === '')) return { ok: false, reason: 'a Sentinel URL needs ?name=<master name>' };
  const [user, password] = userinfo === undefined ? [undefined, undefined] : (userinfo.split(/:(.*)/s) as [string, string | undefined]);
  return {
    ok: true,
    target: {
      kind: sentinel ? 'sentinel' : 'server',
      endpoints: endpoints as RedisEndpoint[],
      masterName,
      db,
      username: decode(user),
      password: decode(password),
      tls: scheme === 'rediss',
    },
  };
}
