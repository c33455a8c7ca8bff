import { describe, expect, it } from 'vitest';
import { isRouterPath, normaliseTarget } from '../../src/router/request-path.js';

describe('normaliseTarget', () => {
  it.each([
    ['/', '/'],
    ['/games/42?sort=asc&x=%20y', '/games/42?sort=asc&x=%20y'],
    ['/a/./b', '/a/b'],
    ['/a/b/../c', '/a/c'],
    ['/a/%2e%2E/c', '/c'],
    ['/a/.%2e/c', '/c'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a//b', '/a//b'],
    ['/x/%2f/y', '/x/%2f/y'],
    ['/a/..?q=/../../x', '/?q=/../../x'],
    ['/v1/users', '/v1/users'],
  ])('%s → %s', (input, output) => {
    expect(normaliseTarget(input)).toMatchObject({ ok: true, target: output });
  });

  it.each([
    '/..', '/../x', '/../../x', '/a/../../x', '/%2e%2e/x', '/%2E%2E/x', '/.%2e/x', '/%2e./x',
    '/a/..%2f..%2fx', '/..%5cx', '/a\\..\\..\\x', '/%252e%252e/x', '//../x', '/./../x', '/%25252e%25252e/x',
  ])('refuses %s (it climbs above the root)', (input) => {
    expect(normaliseTarget(input).ok).toBe(false);
  });
});

describe('the router\'s own paths are matched exactly', () => {
  it.each([
    ['/v1/login', true], ['/v1/resolve', true], ['/v1/heartbeat', true], ['/v1/status', true], ['/metrics', true], ['/healthz', true],
    ['/ui', true], ['/ui/', true], ['/ui/app.js', true],
    ['/v1/users', false], ['/v1/', false], ['/v1/login/', false], ['/V1/LOGIN', false], ['/metrics2', false], ['/uikit', false], ['/healthz/x', false],
  ])('%s: %s', (path, mine) => {
    expect(isRouterPath(path)).toBe(mine);
  });
});
