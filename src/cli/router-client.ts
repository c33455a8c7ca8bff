import { askRouters, type RouterAnswer } from '../fleet/router-health.js';

export { failoverMessages, type RouterFailover } from './router-failover.js';
export { askRouters, fetchHealth, waitForHealthy, type Health, type RouterAnswer } from '../fleet/router-health.js';
export { routerUrl, routerUrls } from '../config/router-url.js';

/**
 * GET /v1/status from the first of `urls` that answers, signed with the
 * CLI's key derived from the router's secret (the token file); the secret
 * itself is never sent. `body` is undefined when no router answered 200.
 */
export async function fetchStatus(urls: readonly string[], secret: string, timeoutMs = 2000): Promise<RouterAnswer> {
  const answer = await askRouters(urls, '/v1/status', secret, timeoutMs);
  return answer.status === 200 ? answer : { ...answer, body: undefined };
}
