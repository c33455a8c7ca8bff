import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Policy } from '../../src/core/policy-schema.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import type { Store } from '../../src/store/store.js';
import { buildPolicy, cliEnv } from './router-process.js';

/**
 * A project folder for CLI tests on either policy store: a config with one
 * service (lobby) and, for Redis, `coordination` with a prefix of its own,
 * so suites can share one redis-server. The policy is created (generation 0)
 * through the store itself, as `init` would.
 */

export type StoreKind = 'files' | 'redis';

export interface StoreProject {
  kind: StoreKind;
  dir: string;
  /** The same store the CLI opens for this project. */
  store: Store;
  env: Record<string, string | undefined>;
  cleanup(): Promise<void>;
}

let counter = 0;

export async function storeProject(kind: StoreKind, redisUrl?: string, extraYaml = ''): Promise<StoreProject> {
  const dir = await mkdtemp(join(tmpdir(), `sy-${kind}-`));
  const prefix = `sy-test-${process.pid}-${(counter += 1)}`;
  const coordination = kind === 'redis' ? `coordination: { redis: ${JSON.stringify(redisUrl)}, prefix: ${prefix} }\n` : '';
  await writeFile(join(dir, 'switchyard.config.yaml'), `services:\n  lobby: { script: "releases/{version}/server.js", ports: 7500-7599 }\n${coordination}${extraYaml}`);
  const store: Store = kind === 'redis' ? new RedisStore({ url: redisUrl!, prefix }) : new PolicyStore(join(dir, '.switchyard'));
  await store.init();
  return {
    kind,
    dir,
    store,
    env: cliEnv(join(dir, '.switchyard', 'pm2')),
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** lobby with two active versions, `target` the target: what promote and apply tests start from. */
export function twoVersions(target: string, generation = 1): Policy {
  // buildPolicy writes every field, so its input form is a whole Policy.
  return buildPolicy({ lobby: { target, processes: [{ version: '1.4.0', port: 7500 }, { version: '1.5.0', port: 7501 }] } }, generation) as Policy;
}
