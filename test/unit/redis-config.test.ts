import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigProblem } from '../../src/config/load.js';
import { parseRedisUrl, redactUrl } from '../../src/config/redis-url.js';
import { redisOptions } from '../../src/coordination/redis-client.js';
import { failure, LOBBY_YAML, project, removeProjects, YAML_FILE } from '../helpers/config-project.js';

// coordination.redis: the URL forms accepted, the env override, validation, and that passwords never show.
afterAll(removeProjects);

describe('Redis URLs', () => {
  it.each([
    ['redis://127.0.0.1:6380/2', { kind: 'server', endpoints: [{ host: '127.0.0.1', port: 6380 }], db: 2, tls: false, username: undefined, password: undefined }],
    ['redis://redis.internal', { endpoints: [{ host: 'redis.internal', port: 6379 }], db: 0 }],
    ['rediss://ops:s%40cret@redis.internal:6390/1', { tls: true, username: 'ops', password: 's@cret', db: 1 }],
    ['redis://:pw@[::1]:6379', { endpoints: [{ host: '::1', port: 6379 }], username: undefined, password: 'pw' }],
    ['redis-sentinel://a:26379,b/3?name=main', { kind: 'sentinel', masterName: 'main', db: 3, endpoints: [{ host: 'a', port: 26379 }, { host: 'b', port: 26379 }] }],
  ])('accepts %s', (url, expected) => {
    const parsed = parseRedisUrl(url);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.target).toMatchObject(expected);
  });

  it.each([
    'http://127.0.0.1:6379', 'redis://', 'redis://h:99999', 'redis://a,b', 'redis://h/16', 'redis://h?tls=1',
    'redis-sentinel://a:26379', 'redis://h h', '127.0.0.1:6379',
  ])('refuses %s', (url) => {
    expect(parseRedisUrl(url).ok).toBe(false);
  });

  it.each([
    ['redis://user:hunter2@h:1/0', 'redis://user:***@h:1/0'],
    ['redis://:hunter2@h', 'redis://:***@h'],
    ['failed on rediss://a:b:c@h and redis://x:y@z', 'failed on rediss://a:***@h and redis://x:***@z'],
    ['redis://h:6379/0', 'redis://h:6379/0'],
  ])('redacts %s', (text, expected) => {
    expect(redactUrl(text)).toBe(expected);
  });
});

describe('client options from a URL', () => {
  it.each([
    ['redis://u:p@h:7000/2', { host: 'h', port: 7000, db: 2, username: 'u', password: 'p', enableOfflineQueue: false, lazyConnect: true }],
    ['rediss://redis.internal', { host: 'redis.internal', tls: { servername: 'redis.internal' } }],
    ['rediss://127.0.0.1:6390', { host: '127.0.0.1', tls: {} }],
    ['redis-sentinel://:pw@a:1,b:2/1?name=main', { sentinels: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }], name: 'main', db: 1, password: 'pw', sentinelPassword: 'pw' }],
  ])('%s', (url, expected) => {
    expect(redisOptions(url)).toMatchObject(expected);
  });

  it('bounds connecting and every command, and reconnects in the background only when asked', () => {
    const commands = redisOptions('redis://h', { timeoutMs: 1500 });
    expect(commands).toMatchObject({ connectTimeout: 1500, commandTimeout: 1500, maxRetriesPerRequest: 0 });
    expect((commands.retryStrategy as (n: number) => unknown)(1)).toBeNull();
    const subscriber = redisOptions('redis://h', { reconnect: true });
    expect(subscriber.enableOfflineQueue).toBe(true);
    expect((subscriber.retryStrategy as (n: number) => unknown)(100)).toBe(1000);
  });

  it('refuses a URL that did not pass validation, without its password', () => {
    expect(() => redisOptions('redis://u:hunter2@h?tls=1')).toThrow(/redis:\/\/u:\*\*\*@h\?tls=1 is not a Redis URL/);
  });
});

describe('coordination in the config', () => {
  it('is off without the key: nothing changes', async () => {
    const dir = await project({ [YAML_FILE]: LOBBY_YAML });
    const { config } = await loadConfig({ cwd: dir, env: {} });
    expect(config.coordination).toBeUndefined();
  });

  it('reads the URL and the default prefix', async () => {
    const dir = await project({ [YAML_FILE]: `coordination: { redis: "redis://127.0.0.1:6390/1" }\n${LOBBY_YAML}` });
    const { config } = await loadConfig({ cwd: dir, env: {} });
    expect(config.coordination).toEqual({ redis: 'redis://127.0.0.1:6390/1', prefix: 'switchyard' });
  });

  it('takes SWITCHYARD_REDIS_URL over the file, and without the key', async () => {
    const withKey = await project({ [YAML_FILE]: `coordination: { redis: "redis://a:1/0", prefix: shop }\n${LOBBY_YAML}` });
    const without = await project({ [YAML_FILE]: LOBBY_YAML });
    const env = { SWITCHYARD_REDIS_URL: 'redis://b:2/3' };
    expect((await loadConfig({ cwd: withKey, env })).config.coordination).toEqual({ redis: 'redis://b:2/3', prefix: 'shop' });
    expect((await loadConfig({ cwd: without, env })).config.coordination).toEqual({ redis: 'redis://b:2/3', prefix: 'switchyard' });
  });

  it('names the key for a bad URL in the file, without its password', async () => {
    const dir = await project({ [YAML_FILE]: `coordination: { redis: "http://ops:hunter2@h:6379" }\n${LOBBY_YAML}` });
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain(`${join(dir, YAML_FILE)}: coordination.redis: found "http://ops:***@h:6379", expected a Redis URL`);
    expect(JSON.stringify(error.details)).not.toContain('hunter2');
    expect(error.message).not.toContain('hunter2');
  });

  it('names the variable for a bad SWITCHYARD_REDIS_URL', async () => {
    const dir = await project({ [YAML_FILE]: LOBBY_YAML });
    const error = await failure(loadConfig({ cwd: dir, env: { SWITCHYARD_REDIS_URL: 'redis://u:hunter2@h:0' } }));
    const problem = (error.details?.problems as ConfigProblem[]).find((p) => p.path === 'coordination.redis');
    expect(problem).toMatchObject({ source: 'SWITCHYARD_REDIS_URL', found: '"redis://u:***@h:0"' });
    expect(error.message).not.toContain('hunter2');
  });

  it('refuses unknown keys and a bad prefix', async () => {
    const dir = await project({ [YAML_FILE]: `coordination: { redis: "redis://h", prefx: a, prefix: "a b" }\n${LOBBY_YAML}` });
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    expect(error.message).toContain('coordination.prefx: found an unknown key, expected one of the keys redis, prefix (did you mean "prefix"?)');
    expect(error.message).toContain('coordination.prefix: found "a b", expected a key prefix');
  });
});
