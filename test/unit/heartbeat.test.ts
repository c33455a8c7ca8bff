import { describe, expect, it } from 'vitest';
import { parseHeartbeat } from '../../src/core/heartbeat.js';

const good = { service: 'lobby', version: '1.5.0', process: 'lobby@1.5.0#0', seq: 7, terminals: { '1.5.0': 812, '1.4.0': 3 } };
const manyVersions = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`1.0.${i}`, 1]));

describe('parseHeartbeat', () => {
  it('accepts the body DESIGN.md shows', () => {
    expect(parseHeartbeat(good)).toEqual({ ok: true, heartbeat: good });
  });

  it.each([
    ['no terminals at all', { terminals: {} }],
    ['seq 0', { seq: 0 }],
    ['a zero count', { terminals: { '1.5.0': 0 } }],
    ['prerelease and build versions', { terminals: { '1.6.0-beta.1': 2, '1.5.0+b7': 1 } }],
    ['exactly 1000 terminal versions', { terminals: manyVersions(1000) }],
    ['a two-digit process index', { process: 'lobby@1.5.0#12' }],
  ] as const)('accepts %s', (_name, patch) => {
    expect(parseHeartbeat({ ...good, ...patch }).ok).toBe(true);
  });

  it('strips unknown keys instead of refusing them, so newer SDKs keep working', () => {
    const r = parseHeartbeat({ ...good, uptimeMs: 5, host: 'x' });
    expect(r).toEqual({ ok: true, heartbeat: good });
  });

  it.each([
    ['a missing service', { service: undefined }, /field service/],
    ['a bad service name', { service: 'lob by' }, /field service: expected a service name/],
    ['a missing version', { version: undefined }, /field version/],
    ['a bad version', { version: 'v1.5.0' }, /field version: expected a semver version/],
    ['a missing process', { process: undefined }, /field process/],
    ['a malformed process id', { process: 'lobby-1.5.0' }, /field process: expected a process id like lobby@1\.5\.0#0/],
    ['a process id of another service', { process: 'chat@1.5.0#0' }, /field process: the id names service chat/],
    ['a process id of another version', { process: 'lobby@1.4.0#0' }, /field process: the id names version 1\.4\.0/],
    ['a huge process id', { process: `lobby@1.5.0#${'9'.repeat(1000)}` }, /field process/],
    ['a missing seq', { seq: undefined }, /field seq/],
    ['a negative seq', { seq: -1 }, /field seq: expected a number of 0 or more/],
    ['a fractional seq', { seq: 1.5 }, /field seq: expected a whole number/],
    ['a string seq', { seq: '3' }, /field seq/],
    ['missing terminals', { terminals: undefined }, /field terminals/],
    ['terminals as an array', { terminals: [1, 2] }, /field terminals/],
    ['a terminal version that is not semver', { terminals: { '1.4.x': 2 } }, /field terminals\["1\.4\.x"\]: expected each key to be a terminal version/],
    ['a negative count', { terminals: { '1.4.0': -2 } }, /field terminals\["1\.4\.0"\]: expected a count of 0 or more/],
    ['a fractional count', { terminals: { '1.4.0': 0.5 } }, /field terminals\["1\.4\.0"\]: expected a whole number/],
    ['a string count', { terminals: { '1.4.0': '2' } }, /field terminals\["1\.4\.0"\]/],
    ['an absurd count', { terminals: { '1.4.0': 1e12 } }, /field terminals\["1\.4\.0"\]: expected a count of at most/],
    ['more than 1000 terminal versions', { terminals: manyVersions(1001) }, /terminals lists more than 1000/],
    ['a "__proto__" terminal version', { terminals: JSON.parse('{"__proto__": 1}') as unknown }, /field terminals\["__proto__"\]/],
  ] as const)('refuses %s, naming the field', (_name, patch, message) => {
    const r = parseHeartbeat({ ...good, ...patch });
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.message).toMatch(message);
  });

  it.each([[null], [undefined], ['lobby'], [42], [[good]]])('refuses a body that is not an object (%j)', (body) => {
    const r = parseHeartbeat(body);
    expect(r).toMatchObject({ ok: false, message: expect.stringMatching(/Invalid heartbeat: the body/) });
  });

  it('lists at most three problems and counts the rest', () => {
    const r = parseHeartbeat({ service: 1, version: 2, process: 3, seq: 'x', terminals: 5 });
    expect(r.ok ? '' : r.message).toMatch(/field service.*; field version.*; field process.*\(and 2 more problems\)\.$/);
  });
});
