import { afterAll } from 'vitest';
import type { Heartbeat } from '../../src/sdk/heartbeat.js';
import { closeHttp } from '../helpers/http.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { stopAllRouters } from '../helpers/router-process.js';

/**
 * For a suite of router children and heartbeat SDKs: the heartbeats pushed
 * on the list returned are stopped after the suite, then the routers and
 * the HTTP pool; ~/.pm2 must be untouched throughout. Call at the top level.
 */
export function heartbeatSuite(): Heartbeat[] {
  const checkUserPm2 = guardUserPm2Home();
  const beats: Heartbeat[] = [];
  afterAll(async () => {
    await Promise.allSettled(beats.map((b) => b.stop()));
    await stopAllRouters();
    await closeHttp();
    checkUserPm2();
  });
  return beats;
}
