import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { advertisedRouterUrl } from '../../src/config/router-url.js';
import { project, removeProjects } from '../helpers/config-project.js';

afterAll(removeProjects);

async function load(router: Record<string, unknown>) {
  const cwd = await project({ 'switchyard.config.json': JSON.stringify({ router, services: { lobby: { script: 's.js', ports: '7500-7599' } } }) });
  return loadConfig({ cwd, env: {} });
}

describe('router.url, the URL processes send heartbeats to', () => {
  it.each([
    [{}, 'http://127.0.0.1:7400'],
    [{ listen: '0.0.0.0:7411' }, 'http://127.0.0.1:7411'],
    [{ url: 'http://router.internal:7400' }, 'http://router.internal:7400'],
    [{ url: 'https://10.1.2.3:443/' }, 'https://10.1.2.3:443'],
  ])('%j advertises %s', async (router, expected) => {
    expect(advertisedRouterUrl((await load(router)).config)).toBe(expected);
  });

  it.each([['ftp://router:7400'], ['router:7400'], ['http://router:7400/path'], ['http://a b']])('refuses %s naming router.url', async (url) => {
    await expect(load({ url })).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('router.url') });
  });
});
