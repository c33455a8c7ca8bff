import fc from 'fast-check';
import { stringify } from 'yaml';

/**
 * Generated config files that are all invalid: a valid config with one to
 * three mutations, each of which alone makes it invalid (an unknown key, a
 * wrong type, a bad duration, port range, listen address, host or service
 * name, ssh target or option, remote path, header name, enum value, a
 * service on an unknown host), written as YAML or JSON; plus files that are
 * not a mapping or not YAML/JSON at all. Every one must be refused with
 * exit 2 and a sentence that names the file.
 */

export interface BadConfig {
  label: string;
  ext: 'yaml' | 'json';
  text: string;
}

type Json = any;
type Mutation = { label: string; apply: (c: Json) => boolean };

const base = (): Json => ({
  router: { listen: '127.0.0.1:7400', mode: 'redirect', heartbeatInterval: '5s', staleAfter: 3 },
  state: '.switchyard',
  pm2Home: '/tmp/sy-never-used',
  hosts: { local: { address: '127.0.0.1' }, 'edge-1': { ssh: 'deploy@edge-1.internal', address: 'edge-1.example.com', sshOptions: ['StrictHostKeyChecking=accept-new'] } },
  services: {
    lobby: {
      script: 'releases/{version}/server.js', ports: '7500-7599', hosts: ['local'], instances: 1, match: 'exact', login: 'force',
      env: { NODE_ENV: 'production' }, args: ['--verbose'],
      readiness: { http: '/healthz', timeout: '30s' }, drain: { grace: 2, timeout: '30m' }, killTimeout: '5s',
    },
  },
});

/** Sets a value at a path; false when the parent is not a mapping any more (an earlier mutation replaced it). */
function setAt(c: Json, path: readonly string[], value: unknown): boolean {
  let node = c;
  for (const key of path.slice(0, -1)) {
    node = node?.[key];
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return false;
  }
  own(node, path.at(-1)!, value);
  return true;
}

/** An own property even for "__proto__", so it is written out as a key like any other. */
function own(node: Json, key: string, value: unknown): void {
  Object.defineProperty(node, key, { value, enumerable: true, writable: true, configurable: true });
}

function renameKey(c: Json, path: readonly string[], from: string, to: string): boolean {
  let node = c;
  for (const key of path) node = node?.[key];
  if (typeof node !== 'object' || node === null || !(from in node)) return false;
  const value = node[from];
  delete node[from];
  own(node, to, value);
  return true;
}

const set = (label: string, path: readonly string[], values: fc.Arbitrary<unknown>): fc.Arbitrary<Mutation> =>
  values.map((v) => ({ label, apply: (c: Json) => setAt(c, path, v) }));

const notString = fc.oneof(fc.integer(), fc.boolean(), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { minKeys: 1, maxKeys: 3 }));
const notNumber = fc.oneof(fc.string({ maxLength: 8 }), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { minKeys: 1, maxKeys: 2 }), fc.constant(null));
const notMapping = fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.integer(), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }));
const badName = fc.oneof(
  fc.constantFrom('east;touch x', '-east', 'a b', '', 'x'.repeat(65), '$(id)', 'é', '.hidden', 'lobby\nx', '`id`', 'a/b', 'a@b', '_x'),
  fc.string({ maxLength: 20 }).filter((s) => !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(s)),
);
const badDuration = fc.oneof(
  fc.constantFrom('5 seconds', '-1s', '0', 0, -5, '1y', '999999h', 'abc', '', '5s5', '1.5.5s', 1e12, true, [], { s: 5 }, '5 m s', 'ms', null),
  fc.string({ maxLength: 10 }).filter((s) => !/^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$/.test(s)),
);
const badPorts = fc.constantFrom('70000', '9000-8000', 'abc', '1-2-3', '0', 0, 65536, -1, { from: 1 }, { from: 1, to: 2, x: 3 }, [7500, 7599], true, '', '75OO', '7500-', '-7500', 1.5, { from: 9, to: 8 }, null);
const badListen = fc.constantFrom('localhost', '1.2.3.4:0', ':7400', '[::1]', 'host:99999', '127.0.0.1:', 7400, '::1:7400', 'http://127.0.0.1:7400', '127.0.0.1:7400/x', '-host:80', 'a b:80', '', null, ['127.0.0.1:7400'], '127.0.0.1:-1');
const badSsh = fc.constantFrom('-oProxyCommand=x', 'a b', 'user@', '@host', 'user@host;rm -rf /', 'user@@host', '', 'host\nx', '$(id)@host', 'u@h:22 x');
const badRemotePath = fc.constantFrom('$(touch x)', '-x', 'a b', "it's", '`id`', 'a;b', '', 'x\ny', 'a|b', 'a>b');
const knownKeys = ['router', 'state', 'pm2Home', 'hosts', 'services', 'listen', 'mode', 'heartbeatInterval', 'staleAfter', 'versionHeader', 'serviceHeader', 'maxBodyBytes',
  'address', 'ssh', 'port', 'identityFile', 'sshOptions', 'nodePath', 'pm2Path', 'script', 'cwd', 'args', 'env', 'ports', 'instances', 'match', 'login', 'readiness',
  'drain', 'killTimeout', 'http', 'timeout', 'grace', 'url'];
const unknownKey = fc.oneof(fc.constantFrom('listn', 'instance', 'timeOut', 'Ports', 'hearbeatInterval', 'scripts', '__proto__x', 'toString', 'constructor'), fc.stringMatching(/^[a-z][A-Za-z0-9_]{0,12}$/))
  .filter((k) => !knownKeys.includes(k));
const SECTIONS: ReadonlyArray<readonly string[]> = [[], ['router'], ['hosts', 'local'], ['hosts', 'edge-1'], ['services', 'lobby'], ['services', 'lobby', 'readiness'], ['services', 'lobby', 'drain']];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.constantFrom(...SECTIONS), unknownKey, fc.jsonValue({ maxDepth: 1 })).map(([path, key, value]) => ({ label: 'unknown key', apply: (c: Json) => setAt(c, [...path, key], value ?? 1) })),
  fc.constantFrom(['state'], ['pm2Home'], ['router', 'mode'], ['hosts', 'local', 'address'], ['hosts', 'edge-1', 'ssh'], ['services', 'lobby', 'script'], ['services', 'lobby', 'cwd'], ['services', 'lobby', 'match'], ['services', 'lobby', 'login'], ['services', 'lobby', 'readiness', 'http'], ['router', 'versionHeader'])
    .chain((path) => set('wrong type (string)', path, notString)),
  fc.constantFrom(['router', 'staleAfter'], ['router', 'maxBodyBytes'], ['services', 'lobby', 'instances'], ['services', 'lobby', 'drain', 'grace'], ['hosts', 'edge-1', 'port'])
    .chain((path) => set('wrong type (number)', path, fc.oneof(notNumber, fc.constantFrom(0, -1, 1.5, 2 ** 31, NaN)))),
  fc.constantFrom(['router'], ['hosts'], ['services'], ['services', 'lobby'], ['hosts', 'local'], ['services', 'lobby', 'readiness'], ['services', 'lobby', 'drain'], ['services', 'lobby', 'env'])
    .chain((path) => set('not a mapping', path, notMapping)),
  fc.constantFrom(['services', 'lobby', 'hosts'], ['services', 'lobby', 'args'], ['hosts', 'edge-1', 'sshOptions'])
    .chain((path) => set('not a list', path, fc.oneof(fc.integer(), fc.boolean(), fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { minKeys: 1, maxKeys: 2 }), fc.constant([{ a: 1 }]), fc.constant([null]), fc.constant([true])))),
  fc.constantFrom(['router', 'heartbeatInterval'], ['services', 'lobby', 'readiness', 'timeout'], ['services', 'lobby', 'drain', 'timeout'], ['services', 'lobby', 'killTimeout'])
    .chain((path) => set('bad duration', path, badDuration)),
  set('bad port range', ['services', 'lobby', 'ports'], badPorts),
  set('bad listen address', ['router', 'listen'], badListen),
  badName.map((name) => ({ label: 'bad host name', apply: (c: Json) => renameKey(c, ['hosts'], 'local', name) && setAt(c, ['services', 'lobby', 'hosts'], [name]) })),
  badName.map((name) => ({ label: 'bad service name', apply: (c: Json) => renameKey(c, ['services'], 'lobby', name) })),
  set('bad ssh target', ['hosts', 'edge-1', 'ssh'], badSsh),
  fc.constantFrom(['hosts', 'edge-1', 'pm2Path'], ['hosts', 'edge-1', 'nodePath'], ['hosts', 'edge-1', 'pm2Home']).chain((path) => set('bad remote path', path, badRemotePath)),
  set('bad ssh option', ['hosts', 'edge-1', 'sshOptions'], fc.constantFrom(['ProxyCommand=/tmp/x'], ['no equals'], ['LocalCommand=x'], ['A=b c'], ['=x'], ['KnownHostsCommand=/bin/x'], [''])),
  set('bad header name', ['router', 'versionHeader'], fc.constantFrom('x switchyard', '', 'x:y', 'é', 'a\tb', 'x'.repeat(129))),
  fc.tuple(fc.constantFrom(['router', 'mode'], ['services', 'lobby', 'match'], ['services', 'lobby', 'login']), fc.constantFrom('tunnel', 'fuzzy', 'maybe', 'REDIRECT', 'Exact', '', 'proxy ')).map(([path, v]) => ({ label: 'bad enum value', apply: (c: Json) => setAt(c, path, v) })),
  set('unknown host in a service', ['services', 'lobby', 'hosts'], fc.constantFrom(['nowhere'], [], ['local', 'nowhere'], ['edge-2'])),
  set('bad script', ['services', 'lobby', 'script'], fc.constantFrom('releases/{vers}/x.js', 'a\u0000b', '', 'x'.repeat(5000), 'releases/{}/x', '{version}/{name}.js', 'a\u001bb')),
  set('bad readiness path', ['services', 'lobby', 'readiness', 'http'], fc.constantFrom('healthz', '/a b', '', 'http://x/healthz', '/x\u0000')),
  fc.tuple(fc.constantFrom('PORT', 'SWITCHYARD_TOKEN', 'switchyard_x', '1ABC', 'A-B', 'a b', ''), fc.string({ maxLength: 5 }))
    .map(([k, v]) => ({ label: 'bad env', apply: (c: Json) => setAt(c, ['services', 'lobby', 'env', k], v) })),
  set('bad env value', ['services', 'lobby', 'env', 'X'], fc.constantFrom(null, true, [1], { a: 1 })),
);

function serialise(c: Json, ext: 'yaml' | 'json'): string {
  return ext === 'json' ? JSON.stringify(c, null, 2) : stringify(c);
}

/** A valid config with 1–3 mutations, each invalid on its own. */
const mutated: fc.Arbitrary<BadConfig> = fc.tuple(fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.constantFrom<'yaml' | 'json'>('yaml', 'yaml', 'json')).map(([mutations, ext]) => {
  const c = base();
  const applied = mutations.filter((m) => m.apply(c)).map((m) => m.label);
  // JSON has no NaN: it would be written as null, which a section takes as "the defaults".
  const safeExt = ext === 'json' && JSON.stringify(c).includes('null') ? 'yaml' : ext;
  return { label: applied[0]!, ext: safeExt, text: serialise(c, safeExt) };
});

/** Files that are not a config mapping, or not YAML/JSON at all. */
const notAConfig: fc.Arbitrary<BadConfig> = fc.oneof(
  fc.constantFrom('42', '- a\n- b', '"text"', 'true', '[]', 'router', '3.5').map((text) => ({ label: 'not a mapping', ext: 'yaml' as const, text })),
  fc.constantFrom('router: [unclosed', 'a: b: c', '\trouter:\n\t  mode: proxy', 'router:\n  mode: a\n  mode: b', 'services: {lobby: }}', ': x', '"unterminated', 'x: &a [*a', 'router: !!binary zzz')
    .map((text) => ({ label: 'not YAML', ext: 'yaml' as const, text })),
  fc.constantFrom('{', '{"router": }', "{'router': {}}", '{"a":1}}', '[1,2', '{"router": {"mode": "proxy",}}', '// c\n{}', 'NaN', '\u0000')
    .map((text) => ({ label: 'not JSON', ext: 'json' as const, text })),
  fc.tuple(fc.jsonValue({ maxDepth: 3 }).filter((v) => JSON.stringify(v).length > 3), fc.nat()).map(([v, cut]) => {
    const full = JSON.stringify({ router: { mode: 'proxy' }, junk: v });
    return { label: 'truncated JSON', ext: 'json' as const, text: full.slice(0, 1 + (cut % (full.length - 2))) };
  }),
);

export const badConfig: fc.Arbitrary<BadConfig> = fc.oneof({ arbitrary: mutated, weight: 9 }, { arbitrary: notAConfig, weight: 1 });
