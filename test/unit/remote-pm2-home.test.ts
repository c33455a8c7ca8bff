import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { HELLO } from '../../src/fleet/remote-scripts.js';

/**
 * The first-contact script a remote host runs (under its own POSIX shell):
 * which PM2_HOME it uses. With none in the config, the remote environment's
 * PM2_HOME wins over $HOME/.pm2 (issue 10, "smaller items").
 */
async function pm2HomeOf(configured: string, env: Record<string, string | undefined>): Promise<string | undefined> {
  const { stdout } = await execa('sh', ['-c', HELLO, 'sh', configured, '', 'pm2'], { env: { HOME: '/home/deploy', PATH: process.env.PATH, ...env }, extendEnv: false });
  return /^pm2home=(.*)$/m.exec(stdout)?.[1];
}

describe('the remote PM2_HOME', () => {
  it.each<[string, string, Record<string, string | undefined>, string]>([
    ['none configured, none in the environment: ~/.pm2', '', {}, '/home/deploy/.pm2'],
    ['none configured: the remote environment\'s PM2_HOME', '', { PM2_HOME: '/srv/pm2' }, '/srv/pm2'],
    ['configured wins over the environment', '/opt/pm2', { PM2_HOME: '/srv/pm2' }, '/opt/pm2'],
    ['configured relative to the remote home', 'fleet/pm2', {}, '/home/deploy/fleet/pm2'],
    ['configured with ~', '~/pm2', {}, '/home/deploy/pm2'],
  ])('%s', async (_label, configured, env, expected) => {
    expect(await pm2HomeOf(configured, env)).toBe(expected);
  });
});
