/**
 * Login and request resolution: pure functions of (policy, input, loads,
 * cursor). One entry point for the router and the tests; the parts live in
 * resolve-login.ts, resolve-request.ts and resolve-shared.ts.
 */
export { resolveLogin, type ConnectResult, type LoginResult, type UpgradeResult } from './resolve-login.js';
export { resolveRequest, type RequestResult, type RequestRoute } from './resolve-request.js';
export type { Loads, ProcessAddress, RoundRobin, RouteErrorCode, RouteFailure } from './resolve-shared.js';
