import type { Config } from '../config/schema.js';
import { PolicyStore } from './policy-store.js';
import { RedisStore } from './redis-store.js';
import type { Store } from './store.js';

/** The one place that chooses the policy store's backend for a config. */
export function openStore(config: Config): Store {
  if (config.coordination !== undefined) return new RedisStore({ url: config.coordination.redis, prefix: config.coordination.prefix });
  return new PolicyStore(config.stateDir);
}
