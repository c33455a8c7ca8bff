import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/core/duration.js';
import { SwitchyardError } from '../../src/core/errors.js';
import { checkServiceName, parseProcessId, processId } from '../../src/core/names.js';
import { checkVersion, isValidVersion, parseVersion, versionMatches, type MatchRule } from '../../src/core/version.js';

/** The value checks at the edge: versions, match rules, durations, names. */

function refusal(run: () => unknown): SwitchyardError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SwitchyardError);
    return error as SwitchyardError;
  }
  throw new Error('expected a refusal');
}

describe('parseVersion / checkVersion', () => {
  it.each([
    ['1.2.3'],
    ['0.0.0'],
    ['10.20.30'],
    ['1.5.0-beta.1'],
    ['1.0.0-alpha-a.b-c'],
    ['1.2.3+build.5'],
    ['1.5.0-rc.1+build.7'],
  ])('accepts %j unchanged', (input) => {
    expect(checkVersion(input)).toBe(input);
    expect(parseVersion(input).major).toBe(Number(input.split('.')[0]));
    expect(isValidVersion(input)).toBe(true);
  });

  it.each([
    ['v1.2.3', 'invalid_version'],
    ['1.2', 'invalid_version'],
    ['1.2.3.4', 'invalid_version'],
    [' 1.2.3', 'invalid_version'],
    ['1.2.3 ', 'invalid_version'],
    ['1.2.3\n', 'invalid_version'],
    ['01.2.3', 'invalid_version'],
    ['1.2.3-01', 'invalid_version'],
    ['=1.2.3', 'invalid_version'],
    ['^1.2.3', 'invalid_version'],
    ['1.2.x', 'invalid_version'],
    ['1.2.3; rm -rf /', 'invalid_version'],
    ['$(reboot)', 'invalid_version'],
    ['99999999999999999999.0.0', 'invalid_version'],
    ['1'.repeat(300), 'invalid_version'],
    ['', 'version_required'],
    [undefined, 'version_required'],
    [null, 'version_required'],
    [123, 'version_required'],
    [{ version: '1.2.3' }, 'version_required'],
  ])('refuses %j with %s', (input, code) => {
    const error = refusal(() => checkVersion(input));
    expect(error.code).toBe(code);
    expect(error.kind).toBe('usage');
    expect(error.message).toMatch(/1\.4\.2/);
    expect(isValidVersion(input)).toBe(false);
  });

  it('keeps control characters out of the message', () => {
    expect(refusal(() => checkVersion('1.2.3\u001b[31m')).message).not.toContain('\u001b');
  });
});

describe('versionMatches', () => {
  it.each<[MatchRule, string, string, boolean]>([
    ['exact', '1.4.2', '1.4.2', true],
    ['exact', '1.4.2', '1.4.3', false],
    ['exact', '1.5.0-beta.1', '1.5.0', false],
    ['patch', '1.4.0', '1.4.9', true],
    ['patch', '1.4.0', '1.5.0', false],
    ['patch', '1.5.0', '1.5.0-beta.1', false],
    ['patch', '1.5.0-beta.1', '1.5.3-beta.1', true],
    ['patch', '1.5.0-beta.1', '1.5.0-beta.2', false],
    ['minor', '1.0.0', '1.9.9', true],
    ['minor', '1.0.0', '2.0.0', false],
    ['minor', '2.1.0-rc.1', '2.3.0-rc.1', true],
    ['minor', '2.1.0', '2.1.0-rc.1', false],
    ['patch', 'garbage', '1.0.0', false],
    ['minor', '1.0.0', 'garbage', false],
  ])('%s: process %s serves terminal %s → %s', (rule, processVersion, terminalVersion, expected) => {
    expect(versionMatches(rule, processVersion, terminalVersion)).toBe(expected);
  });
});

describe('parseDuration / formatDuration', () => {
  it.each<[string | number, number]>([
    ['500ms', 500],
    ['5s', 5000],
    ['1.5s', 1500],
    ['30m', 1_800_000],
    ['1h', 3_600_000],
    ['250', 250],
    [' 5s ', 5000],
    [250, 250],
    [0, 0],
    [12.6, 13],
  ])('parses %j as %i ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each<[string | number]>([['5d'], ['-5s'], ['abc'], [''], ['5 sec'], ['1e3'], [-1], [Number.NaN], [Number.POSITIVE_INFINITY]])(
    'refuses %j',
    (input) => {
      const error = refusal(() => parseDuration(input, 'drain timeout'));
      expect([error.code, error.kind]).toEqual(['invalid_duration', 'usage']);
      expect(error.message).toContain('drain timeout');
    },
  );

  it.each([
    [0, '0ms'],
    [999, '999ms'],
    [999.6, '1.0s'],
    [1200, '1.2s'],
    [9960, '10s'],
    [45_000, '45s'],
    [59_500, '1m'],
    [60_000, '1m'],
    [245_000, '4m 5s'],
    [119_700, '2m'],
    [3_599_999, '1h 0m'],
    [5_400_000, '1h 30m'],
  ])('formats %d ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('checkServiceName', () => {
  it.each([['lobby'], ['Lobby-2'], ['a'], ['svc_1'], ['9lives'], ['x'.repeat(64)]])('accepts %j', (name) => {
    expect(checkServiceName(name)).toBe(name);
  });

  it.each<[unknown]>([
    [''],
    ['-lobby'],
    ['_lobby'],
    ['lob by'],
    ['lobby;rm -rf /'],
    ['lobby$(id)'],
    ['a`id`'],
    ['a|b'],
    ['a&b'],
    ['a>b'],
    ["a'b"],
    ['../etc'],
    ['a/b'],
    ['lobby@1.0.0'],
    ['lobby\n'],
    ['x'.repeat(65)],
    ['café'],
    [null],
    [5],
  ])('refuses %j', (name) => {
    const error = refusal(() => checkServiceName(name));
    expect([error.code, error.kind]).toEqual(['invalid_service', 'usage']);
  });
});

describe('parseProcessId', () => {
  it.each([
    ['lobby@1.5.0#0', { service: 'lobby', version: '1.5.0', index: 0 }],
    ['lobby@1.5.0-beta.1+b.2#12', { service: 'lobby', version: '1.5.0-beta.1+b.2', index: 12 }],
    ['lobby@1.5.0', null],
    ['lobby#0', null],
    ['@1.5.0#0', null],
    ['lobby@#0', null],
    ['lobby@1.5.0#x', null],
    ['lobby@1.5.0#-1', null],
    ['', null],
  ])('parses %j', (id, expected) => {
    expect(parseProcessId(id)).toEqual(expected);
  });

  it('round-trips processId', () => {
    expect(parseProcessId(processId('chat', '2.0.0', 3))).toEqual({ service: 'chat', version: '2.0.0', index: 3 });
  });
});
