import { describe, expect, it } from 'vitest';
import { canaryBucket, inCanary } from '../../src/core/canary.js';
import { indexPolicy, matchKey } from '../../src/core/policy-index.js';
import type { Policy, ProcessEntry, ProcessState, ServicePolicy } from '../../src/core/policy-schema.js';
import { versionMatches } from '../../src/core/version.js';
import { resolveLogin, resolveRequest, type Loads, type LoginResult, type RequestResult, type RoundRobin } from '../../src/core/resolve.js';

// Process specs are `<version>#<index>:<state>`; ports are handed out in order.
type ServiceSpec = Partial<Omit<ServicePolicy, 'processes'>> & { processes: string[] };

function makePolicy(services: Record<string, ServiceSpec>): Policy {
  let port = 7500;
  const out: Record<string, ServicePolicy> = {};
  for (const [name, spec] of Object.entries(services)) {
    const processes: ProcessEntry[] = spec.processes.map((s) => {
      const [versionIndex, state] = s.split(':') as [string, ProcessState];
      const version = versionIndex.split('#')[0]!;
      return { id: `${name}@${versionIndex}`, version, host: 'local', address: '127.0.0.1', port: port++, state };
    });
    out[name] = { target: spec.target ?? null, canary: spec.canary ?? null, match: spec.match ?? 'exact', login: spec.login ?? 'force', processes };
  }
  return { schema: 1, generation: 1, services: out };
}

const fleet = makePolicy({
  lobby: { target: '1.5.0', processes: ['1.5.0#0:active', '1.4.0#0:draining', '1.3.0#0:retired', '1.6.0#0:starting', '1.7.0#0:failed'] },
  shop: {
    target: '2.1.0', match: 'patch', login: 'allow',
    processes: ['2.1.0#0:active', '2.0.3#0:active', '2.0.1#0:draining', '1.9.0#0:active', '2.2.0-beta.1#0:active'],
  },
  chat: { target: '3.2.0', match: 'minor', processes: ['3.2.0#0:active', '3.0.5#0:active', '3.1.4#0:draining', '4.0.0#0:active'] },
  arcade: { target: '1.1.0', login: 'allow', processes: ['1.1.0#0:active', '1.0.0#0:draining', '0.9.0#0:active'] },
  fading: { target: '6.0.0', match: 'patch', processes: ['6.0.0#0:active', '5.0.2#0:draining'] },
  mixed: { target: '8.1.2', match: 'patch', processes: ['8.1.5#0:draining', '8.1.2#0:active'] },
  fresh: { processes: [] },
  broken: { target: '7.0.0', processes: ['7.0.0#0:draining'] },
  brokenAllow: { target: '7.0.0', login: 'allow', processes: ['7.0.0#0:draining', '6.9.0#0:active'] },
});
const single = makePolicy({ lobby: { target: '1.5.0', processes: ['1.5.0#0:active'] } });
const empty = makePolicy({});

function summary(r: LoginResult | RequestResult): string {
  if (!r.ok) return `${r.status} ${r.error}`;
  if ('action' in r && r.action === 'upgrade') return `upgrade ${r.targetVersion}`;
  return `${'action' in r ? 'connect ' : ''}${r.version}`;
}

describe('resolveLogin', () => {
  it.each([
    ['force: target version connects', 'lobby', '1.5.0', 'connect 1.5.0'],
    ['force: draining version is told to upgrade', 'lobby', '1.4.0', 'upgrade 1.5.0'],
    ['force: retired version is told to upgrade', 'lobby', '1.3.0', 'upgrade 1.5.0'],
    ['force: starting version is told to upgrade', 'lobby', '1.6.0', 'upgrade 1.5.0'],
    ['force: unknown newer version is told to change', 'lobby', '9.9.9', 'upgrade 1.5.0'],
    ['force: prerelease of the target is not the target', 'lobby', '1.5.0-rc.1', 'upgrade 1.5.0'],
    ['force: build metadata makes a different version string', 'lobby', '1.5.0+b7', 'upgrade 1.5.0'],
    ['force under minor rule still demands the target', 'chat', '3.1.4', 'upgrade 3.2.0'],
    ['force under minor rule: target connects', 'chat', '3.2.0', 'connect 3.2.0'],
    ['allow: target connects', 'shop', '2.1.0', 'connect 2.1.0'],
    ['allow: other active version connects', 'shop', '2.0.3', 'connect 2.0.3'],
    ['allow: draining exact version goes to a matching active one', 'shop', '2.0.1', 'connect 2.0.3'],
    ['allow: patch match connects', 'shop', '2.0.9', 'connect 2.0.3'],
    ['allow: older minor line still active connects', 'shop', '1.9.5', 'connect 1.9.0'],
    ['allow: no active match upgrades', 'shop', '1.8.0', 'upgrade 2.1.0'],
    ['allow: prerelease connects to its prerelease', 'shop', '2.2.0-beta.1', 'connect 2.2.0-beta.1'],
    ['allow: release never lands on a prerelease', 'shop', '2.2.0', 'upgrade 2.1.0'],
    ['allow exact: draining version takes no new logins', 'arcade', '1.0.0', 'upgrade 1.1.0'],
    ['allow exact: old active version connects', 'arcade', '0.9.0', 'connect 0.9.0'],
    ['allow exact: near miss upgrades', 'arcade', '0.9.1', 'upgrade 1.1.0'],
    ['no target yet', 'fresh', '1.0.0', '503 no_target'],
    ['target without active process, terminal on it', 'broken', '7.0.0', '503 no_active_process'],
    ['target without active process, terminal elsewhere', 'broken', '6.0.0', '503 no_active_process'],
    ['allow still connects a matching active version when the target has none', 'brokenAllow', '6.9.0', 'connect 6.9.0'],
    ['unknown service', 'nope', '1.0.0', '404 unknown_service'],
    ['"__proto__" is just an unknown service', '__proto__', '1.0.0', '404 unknown_service'],
    ['"constructor" is just an unknown service', 'constructor', '1.0.0', '404 unknown_service'],
    ['"hasOwnProperty" is just an unknown service', 'hasOwnProperty', '1.0.0', '404 unknown_service'],
    ['several services and none named', undefined, '1.0.0', '400 service_required'],
    ['empty service name counts as none', '', '1.0.0', '400 service_required'],
    ['missing version', 'lobby', undefined, '400 version_required'],
    ['null version', 'lobby', null, '400 version_required'],
    ['empty version', 'lobby', '', '400 version_required'],
    ['leading v', 'lobby', 'v1.5.0', '400 invalid_version'],
    ['two parts', 'lobby', '1.5', '400 invalid_version'],
    ['padding', 'lobby', ' 1.5.0', '400 invalid_version'],
    ['a range', 'lobby', '^1.5.0', '400 invalid_version'],
    ['a number', 'lobby', 1.5, '400 invalid_version'],
    ['an object', 'lobby', { version: '1.5.0' }, '400 invalid_version'],
    ['a huge string', 'lobby', '1'.repeat(1_000_000), '400 invalid_version'],
  ] as const)('%s', (_name, service, version, expected) => {
    expect(summary(resolveLogin(fleet, service as string | undefined, version, 't-1'))).toBe(expected);
  });

  it.each([
    ['only service, none named', single, undefined, 'connect 1.5.0'],
    ['only service, named', single, 'lobby', 'connect 1.5.0'],
    ['no services at all', empty, undefined, '404 unknown_service'],
  ] as const)('%s', (_name, policy, service, expected) => {
    expect(summary(resolveLogin(policy, service, '1.5.0', 't-1'))).toBe(expected);
  });

  it('connect answers carry the address, port and process id', () => {
    expect(resolveLogin(fleet, 'lobby', '1.5.0', 't-1')).toEqual({
      ok: true, action: 'connect', service: 'lobby', version: '1.5.0', address: '127.0.0.1', port: 7500, processId: 'lobby@1.5.0#0',
    });
    expect(resolveLogin(fleet, 'lobby', '1.4.0', 't-1')).toEqual({ ok: true, action: 'upgrade', service: 'lobby', targetVersion: '1.5.0' });
  });

  it('messages say what to do', () => {
    const messages = [
      resolveLogin(fleet, undefined, '1.0.0', 't'),
      resolveLogin(fleet, 'nope', '1.0.0', 't'),
      resolveLogin(fleet, 'fresh', '1.0.0', 't'),
      resolveLogin(fleet, 'lobby', 'v1', 't'),
    ].map((r) => (r.ok ? '' : r.message));
    expect(messages[0]).toMatch(/arcade, broken, brokenAllow, chat, fading, fresh, lobby, mixed, shop/);
    expect(messages[1]).toMatch(/"nope".*known services: arcade/);
    expect(messages[2]).toMatch(/deploy a version first/);
    expect(messages[3]).toMatch(/"v1" is not a valid version.*1\.4\.2/);
  });
});

describe('resolveLogin with a canary', () => {
  const withCanary = (weight: number, login: 'force' | 'allow' = 'force', version = '1.6.0') =>
    makePolicy({ lobby: { target: '1.5.0', login, canary: { version, weight }, processes: ['1.5.0#0:active', '1.6.0#0:active'] } });
  const idIn = (w: number) => `t-${[...Array(1000).keys()].find((i) => inCanary(`t-${i}`, w))}`;
  const idOut = (w: number) => `t-${[...Array(1000).keys()].find((i) => !inCanary(`t-${i}`, w))}`;

  it.each([
    ['weight 100: old version goes to the canary', withCanary(100), '1.5.0', 't-1', 'upgrade 1.6.0'],
    ['weight 100: canary version connects', withCanary(100), '1.6.0', 't-1', 'connect 1.6.0'],
    ['weight 0: canary terminal is sent back to the target', withCanary(0), '1.6.0', 't-1', 'upgrade 1.5.0'],
    ['weight 0: target connects', withCanary(0), '1.5.0', 't-1', 'connect 1.5.0'],
    ['weight 50, a terminal inside', withCanary(50), '1.4.0', idIn(50), 'upgrade 1.6.0'],
    ['weight 50, a terminal outside', withCanary(50), '1.4.0', idOut(50), 'upgrade 1.5.0'],
    ['allow keeps a terminal on an active version even inside the canary', withCanary(100, 'allow'), '1.5.0', 't-1', 'connect 1.5.0'],
    ['a canary version with no active process is skipped', withCanary(100, 'force', '1.9.0'), '1.4.0', 't-1', 'upgrade 1.5.0'],
  ] as const)('%s', (_name, policy, version, terminal, expected) => {
    expect(summary(resolveLogin(policy, 'lobby', version, terminal))).toBe(expected);
  });

  it.each([[undefined], [null], [42], [{}]])('a missing or odd terminal id (%j) is treated as ""', (terminal) => {
    const policy = withCanary(50);
    const expected = inCanary('', 50) ? 'upgrade 1.6.0' : 'upgrade 1.5.0';
    expect(summary(resolveLogin(policy, 'lobby', '1.4.0', terminal))).toBe(expected);
    expect(canaryBucket('')).toBeGreaterThanOrEqual(0);
  });
});

describe('resolveRequest', () => {
  it.each([
    ['exact: target', 'lobby', '1.5.0', '1.5.0'],
    ['exact: draining version still serves', 'lobby', '1.4.0', '1.4.0'],
    ['exact: retired version is not served', 'lobby', '1.3.0', '404 version_not_served'],
    ['exact: starting version is not served yet', 'lobby', '1.6.0', '404 version_not_served'],
    ['exact: failed version is not served', 'lobby', '1.7.0', '404 version_not_served'],
    ['exact: a patch away is not served', 'lobby', '1.5.1', '404 version_not_served'],
    ['patch: exact draining beats a looser active match', 'shop', '2.0.1', '2.0.1'],
    ['patch: looser match prefers an active version', 'shop', '2.0.7', '2.0.3'],
    ['patch: build metadata is ignored', 'shop', '2.1.0+abc', '2.1.0'],
    ['patch: newer patch of the target', 'shop', '2.1.5', '2.1.0'],
    ['patch: older line', 'shop', '1.9.9', '1.9.0'],
    ['patch: other minor is not served', 'shop', '1.8.0', '404 version_not_served'],
    ['patch: prerelease matches its prerelease', 'shop', '2.2.0-beta.1', '2.2.0-beta.1'],
    ['patch: same prerelease tag on another patch', 'shop', '2.2.1-beta.1', '2.2.0-beta.1'],
    ['patch: another prerelease tag is not served', 'shop', '2.2.0-beta.2', '404 version_not_served'],
    ['patch: a draining-only line still serves', 'fading', '5.0.9', '5.0.2'],
    ['patch: an older active version beats a newer draining one', 'mixed', '8.1.9', '8.1.2'],
    ['minor: newest active of the major', 'chat', '3.1.0', '3.2.0'],
    ['minor: exact draining version', 'chat', '3.1.4', '3.1.4'],
    ['minor: far newer minor goes to the newest', 'chat', '3.9.9', '3.2.0'],
    ['minor: next major', 'chat', '4.5.0', '4.0.0'],
    ['minor: unknown major', 'chat', '2.0.0', '404 version_not_served'],
    ['nothing deployed', 'fresh', '1.0.0', '404 version_not_served'],
    ['unknown service', 'nope', '1.0.0', '404 unknown_service'],
    ['"__proto__" service', '__proto__', '1.0.0', '404 unknown_service'],
    ['no service named among several', undefined, '1.0.0', '400 service_required'],
    ['missing version', 'lobby', undefined, '400 version_required'],
    ['malformed version', 'lobby', '1.5.x', '400 invalid_version'],
  ] as const)('%s', (_name, service, version, expected) => {
    expect(summary(resolveRequest(fleet, service as string | undefined, version))).toBe(expected);
  });

  it('version_not_served lists the versions served, newest first', () => {
    const r = resolveRequest(fleet, 'shop', '0.1.0');
    expect(r).toMatchObject({ ok: false, status: 404, error: 'version_not_served', versions: ['2.2.0-beta.1', '2.1.0', '2.0.3', '2.0.1', '1.9.0'] });
    expect(r.ok ? '' : r.message).toMatch(/does not serve version 0\.1\.0.*2\.2\.0-beta\.1, 2\.1\.0, 2\.0\.3, 2\.0\.1, 1\.9\.0/);
    expect(resolveRequest(fleet, 'fresh', '1.0.0')).toMatchObject({ versions: [], message: expect.stringMatching(/deploy a version first/) });
  });

  it('never throws, whatever arrives', () => {
    const odd: unknown[] = [undefined, null, 0, NaN, {}, [], Symbol('x'), () => 1, '\u0000', '__proto__', 'constructor', 'x'.repeat(100_000)];
    for (const service of odd) for (const version of odd) {
      expect(() => resolveRequest(fleet, service as string, version)).not.toThrow();
      expect(() => resolveLogin(fleet, service as string, version, service)).not.toThrow();
    }
  });
});

describe('spreading over several processes of one version', () => {
  const spread = makePolicy({
    lobby: { target: '1.5.0', processes: ['1.5.0#0:active', '1.5.0#1:active', '1.5.0#2:active', '1.5.0#3:draining', '1.4.0#0:draining', '1.4.0#1:draining'] },
  });
  const loadsOf = (map: Record<string, number>): Loads => ({ terminals: (id) => map[id.slice(-1)] });
  const picks = (n: number, fn: (cursor: RoundRobin) => LoginResult | RequestResult, cursor: RoundRobin = { next: 0 }) =>
    Array.from({ length: n }, () => {
      const r = fn(cursor);
      if (!r.ok) return r.error;
      return 'processId' in r ? r.processId.slice(-1) : 'upgrade';
    }).join('');

  it.each([
    ['least loaded wins', { 0: 10, 1: 3, 2: 7 }, '1111'],
    ['ties go round robin', { 0: 5, 1: 2, 2: 2 }, '1212'],
    ['unknown load counts as 0', { 0: 4 }, '1212'],
    ['no heartbeats at all: plain round robin', {}, '0120'],
    ['NaN and negative loads count as 0', { 0: NaN, 1: -5, 2: 1 }, '0101'],
    ['draining process takes no logins even when idle', { 0: 9, 1: 9, 2: 9, 3: 0 }, '0120'],
  ] as const)('login: %s', (_name, loads, expected) => {
    expect(picks(4, (c) => resolveLogin(spread, 'lobby', '1.5.0', 't', loadsOf(loads), c))).toBe(expected);
  });

  it.each([
    ['requests prefer active processes of the version', '1.5.0', { 3: 0, 0: 1, 1: 1, 2: 1 }, '0120'],
    ['requests to a draining version spread over it', '1.4.0', {}, '0101'],
    ['requests by least load', '1.4.0', { 0: 1, 1: 0 }, '1111'],
  ] as const)('%s', (_name, version, loads, expected) => {
    expect(picks(4, (c) => resolveRequest(spread, 'lobby', version, loadsOf(loads), c))).toBe(expected);
  });

  it.each([
    ['without a cursor the first of the least loaded', undefined, '0000'],
    ['a garbage cursor starts from 0', { next: -3 }, '0120'],
    ['a cursor past the top wraps', { next: 0x7fffffff }, '1012'],
  ] as const)('%s', (_name, cursor, expected) => {
    const run = (c: RoundRobin) => resolveLogin(spread, 'lobby', '1.5.0', 't', undefined, cursor === undefined ? undefined : c);
    expect(picks(4, run, cursor === undefined ? undefined : { ...cursor })).toBe(expected);
  });
});

describe('policy index', () => {
  it('is built once per policy object', () => {
    expect(indexPolicy(fleet)).toBe(indexPolicy(fleet));
    expect(indexPolicy({ ...fleet })).not.toBe(indexPolicy(fleet));
    expect(indexPolicy(fleet).services.get('shop')?.served).toEqual(['2.2.0-beta.1', '2.1.0', '2.0.3', '2.0.1', '1.9.0']);
  });

  it.each([['patch'], ['minor'], ['exact']] as const)('match keys agree with versionMatches under %s', (rule) => {
    const versions = ['1.4.2', '1.4.0', '1.4.10', '1.5.0', '1.40.2', '2.4.2', '1.4.2-beta.1', '1.4.3-beta.1', '1.4.2-beta.2', '1.4.2+b1', '1.4.2-rc.1+b2', '11.4.2', '0.0.0'];
    for (const a of versions) for (const b of versions) {
      expect(`${a} ${b} ${matchKey(rule, a) === matchKey(rule, b)}`).toBe(`${a} ${b} ${versionMatches(rule, a, b)}`);
    }
  });

  it('lookups cost about the same with 10,000 processes as with 10', () => {
    // Same shape per version (2 processes) and the same number of distinct query strings, so only fleet size differs.
    const build = (versions: number) =>
      makePolicy({
        lobby: {
          target: '1.0.0', match: 'patch',
          processes: Array.from({ length: versions }, (_, i) => `${1 + (i % 7)}.${Math.floor(i / 7)}.0`).flatMap((v) => [`${v}#0:active`, `${v}#1:active`]),
        },
      });
    const small = build(5);
    const large = build(5000);
    const queries = (p: Policy) => {
      const served = indexPolicy(p).services.get('lobby')!.served;
      return Array.from({ length: 64 }, (_, i) => served[(i * 37) % served.length]!.replace(/\.0$/, `.${i % 3}`));
    };
    const loads: Loads = { terminals: (id) => id.length % 3 };
    const time = (p: Policy, qs: string[]) => {
      const cursor = { next: 0 };
      const start = process.hrtime.bigint();
      for (let i = 0; i < 40_000; i++) {
        const q = qs[i & 63]!;
        resolveRequest(p, 'lobby', q, loads, cursor);
        resolveLogin(p, 'lobby', q, 't-1', loads, cursor);
      }
      return Number(process.hrtime.bigint() - start) / 80_000;
    };
    const qSmall = queries(small);
    const qLarge = queries(large);
    const best = { small: Infinity, large: Infinity };
    for (let round = 0; round < 5; round++) {
      best.small = Math.min(best.small, time(small, qSmall));
      best.large = Math.min(best.large, time(large, qLarge));
    }
    console.log(`per lookup: 10 processes ${best.small.toFixed(0)} ns, 10,000 processes ${best.large.toFixed(0)} ns`);
    expect(best.large / best.small).toBeLessThan(3);
  });
});
