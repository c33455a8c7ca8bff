import { randomBytes } from 'node:crypto';
import type { Policy } from '../../src/core/policy-schema.js';
import { Router } from '../../src/router/router.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { tempDir } from './cli.js';

export interface InProcessRouter {
  router: Router;
  url: string;
  /** The router's secret (what `.switchyard/token` holds). */
  secret: string;
  store: PolicyStore;
  stop(): Promise<void>;
}

/**
 * A real router in the test's own process, on a free port of 127.0.0.1,
 * serving `policy` from a real store in a temp folder. For tests that need
 * to reach inside (the tally, the drain controller) or to fake the wall
 * clock; the others use router-process.ts.
 */
export async function startInProcessRouter(policy: Policy, opts: { intervalMs: number; staleAfter: number }): Promise<InProcessRouter> {
  const { dir, cleanup } = await tempDir('sy-inproc-router-');
  const store = new PolicyStore(dir);
  await store.init();
  await store.write(structuredClone(policy) as Policy, (await store.read()).generation);
  const secret = randomBytes(32).toString('hex');
  const router = new Router({
    stateDir: dir,
    host: '127.0.0.1',
    port: 0,
    mode: 'redirect',
    heartbeatIntervalMs: opts.intervalMs,
    staleAfter: opts.staleAfter,
    versionHeader: 'x-switchyard-version',
    serviceHeader: 'x-switchyard-service',
    maxBodyBytes: 65_536,
    token: secret,
    policyPollMs: 100,
    shutdownGraceMs: 1000,
    log: () => undefined,
  });
  const { port } = await router.start();
  return {
    router,
    url: `http://127.0.0.1:${port}`,
    secret,
    store,
    async stop() {
      try {
        await router.stop();
      } finally {
        await cleanup();
      }
    },
  };
}
