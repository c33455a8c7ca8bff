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
});
