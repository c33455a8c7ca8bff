import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { advertisedRouterUrl, routerUrls } from '../../src/config/router-url.js';
import { LOBBY_YAML, project, removeProjects } from '../helpers/config-project.js';

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

describe('router.url listing several routers', () => {
  const A = 'http://r1.internal:7400';
  const B = 'https://10.1.2.3:7401';

  it.each([
    ['comma-separated', `${A}, ${B}/`],
    ['a list', [A, `${B}/`]],
  ])('as %s: every router, in order; processes get them comma-separated; the CLI asks them in order', async (_form, url) => {
    const { config } = await load({ url, listen: '127.0.0.1:7411' });
    expect(config.router.urls).toEqual([A, B]);
    expect(advertisedRouterUrl(config)).toBe(`${A},${B}`);
    expect(routerUrls(config)).toEqual([A, B]);
  });

  it('as a YAML list in a YAML file', async () => {
    const cwd = await project({ 'switchyard.config.yaml': `router:\n  url:\n    - ${A}\n    - ${B}\n${LOBBY_YAML}` });
    const { config } = await loadConfig({ cwd, env: {} });
    expect(advertisedRouterUrl(config)).toBe(`${A},${B}`);
  });

  it('one router (string or one-entry list): the CLI asks this machine\'s router, as with router.url unset', async () => {
    for (const url of [A, [A]]) {
      const { config } = await load({ url, listen: '0.0.0.0:7411' });
      expect(advertisedRouterUrl(config)).toBe(A);
      expect(routerUrls(config)).toEqual(['http://127.0.0.1:7411']);
    }
    expect(routerUrls((await load({})).config)).toEqual(['http://127.0.0.1:7400']);
  });

  it.each([
    [`${A},ftp://r2:7400`, '"ftp://r2:7400" is not one'],
    [`${A},,${B}`, 'an empty entry'],
    [[A, 7401], '7401 is not one'],
    [[], 'several routers as a list'],
    [`${A},${A}/`, `${A} is listed twice`],
    [{ a: A }, 'several routers as a list'],
  ])('refuses %j naming router.url and the bad entry', async (url, why) => {
    const error = await load({ url }).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'config_invalid' });
    expect((error as { exitCode: number }).exitCode).toBe(2);
    expect((error as Error).message).toMatch(/: router\.url: found /);
    expect((error as Error).message).toContain(why);
  });
});
