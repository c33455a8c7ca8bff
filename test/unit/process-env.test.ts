import { describe, expect, it } from 'vitest';
import type { Config, ServiceConfig } from '../../src/config/schema.js';
import { processEnv } from '../../src/ops/process-env.js';
import { deriveKey } from '../../src/protocol/signing.js';

const SECRET = 'ab'.repeat(32);
const env = (id: string) => processEnv({
  base: { PATH: '/usr/bin', SWITCHYARD_TOKEN: SECRET },
  config: { router: { heartbeatIntervalMs: 5000 } } as unknown as Config,
  service: { name: 'lobby', env: { SWITCHYARD_TOKEN: SECRET } } as unknown as ServiceConfig,
  routerUrl: 'http://127.0.0.1:7400',
  token: SECRET,
  version: '1.5.0',
  id,
  port: 7501,
});

describe('processEnv', () => {
  it('gives a process its own key, derived from the secret and its id, never the secret', () => {
    const a = env('lobby@1.5.0#0.g42');
    const b = env('lobby@1.5.0#1.g42');
    expect(a.SWITCHYARD_TOKEN).toBe(deriveKey(SECRET, 'lobby@1.5.0#0.g42'));
    expect(b.SWITCHYARD_TOKEN).toBe(deriveKey(SECRET, 'lobby@1.5.0#1.g42'));
    expect(a.SWITCHYARD_TOKEN).not.toBe(b.SWITCHYARD_TOKEN);
    expect(Object.values(a).join('\n')).not.toContain(SECRET);
    expect(a).toMatchObject({ SWITCHYARD_PROCESS: 'lobby@1.5.0#0.g42', PATH: '/usr/bin' });
  });

  it('hands on none of PM2\'s bookkeeping (the router, itself under PM2, starts replacements)', () => {
    const fromRouter = processEnv({
      base: { PATH: '/usr/bin', DATABASE_URL: 'postgres://db', http_proxy: 'http://proxy:3128', name: 'switchyard-router', pm_id: '3', pm_exec_path: '/opt/switchyard/bin/switchyard.js', PM2_HOME: '/srv/pm2', autorestart: 'true', NODE_APP_INSTANCE: '0' },
      config: { router: { heartbeatIntervalMs: 5000 } } as unknown as Config,
      service: { name: 'lobby', env: {} } as unknown as ServiceConfig,
      routerUrl: 'http://127.0.0.1:7400', token: SECRET, version: '1.5.0', id: 'lobby@1.5.0#0.g42', port: 7501,
    });
    expect(fromRouter).toMatchObject({ PATH: '/usr/bin', DATABASE_URL: 'postgres://db', http_proxy: 'http://proxy:3128' });
    for (const key of ['name', 'pm_id', 'pm_exec_path', 'PM2_HOME', 'autorestart', 'NODE_APP_INSTANCE']) expect(fromRouter[key], key).toBeUndefined();
  });
});
