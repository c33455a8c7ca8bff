import fc from 'fast-check';
import { isValidVersion } from '../../../src/core/version.js';

/**
 * Generated command lines that are all bad input: for deploy, promote,
 * drain, policy diff and init, one "bad slot" (a malformed version, service,
 * duration, percentage, count, folder, generation, port range, listen
 * address, template, script, config path, an unknown flag or command, an
 * argument too many or missing) and every other slot absent or valid. None
 * may ever be a valid command: the runner works on a real project folder,
 * and a valid deploy would start a fleet.
 *
 * `cwd: 'project'` runs in a project with a valid config and an empty
 * policy; `cwd: 'empty'` (init) in an empty folder that must stay empty.
 */

export interface BadArgv {
  label: string;
  cwd: 'project' | 'empty';
  args: string[];
}

/** Not a type guard, so a failed check does not narrow a string to never. */
const valid = (v: string): boolean => isValidVersion(v);
/** Argument vectors cannot hold NUL. */
const noNul = (s: string) => s.replaceAll('\0', '?');

const badVersion = fc.oneof(
  fc.constantFrom('1.5', 'v1.0.0', '1.0.0;touch x', '$(id)', '', ' ', '1.0.0\n', '01.0.0', 'latest', '1.0.0 || 2.0.0', 'x'.repeat(300), '1.0.x', '^1.0.0', '1.0.0-', '=1.0.0', '1.0.0+', '１.０.０', '1.0.0\u202e'),
  fc.string({ maxLength: 24 }).map(noNul),
).filter((v) => !valid(v) && !v.startsWith('-'));
const validVersion = fc.constantFrom('1.0.0', '2.3.4-rc.1', '0.0.1+build.5');
const badService = fc.oneof(fc.constantFrom('$(id)', 'lobby;x', 'nope', '', '__proto__', 'constructor', 'toString', 'x'.repeat(100), 'Lobby', 'lobby ', 'hasOwnProperty'), fc.string({ maxLength: 12 }).map(noNul))
  .filter((s) => s !== 'lobby' && !s.startsWith('-'));
const badDuration = fc.oneof(fc.constantFrom('10 minutes', '1y', 'abc', '', '5m5', '1e3', '5 s s', 'ms', '.5s', '5.s', 'NaN', 'Infinity', '5 hours'), fc.string({ maxLength: 8 }).map(noNul))
  .filter((s) => !/^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$/.test(s) && !s.startsWith('-'));
const badPercent = fc.constantFrom('0', '101', 'abc', '10%', '1e2', '', 'NaN', 'Infinity', '0.0', '100.5', ' 10', '10 ', '٣');
const badCount = fc.constantFrom('0', '1001', '1.5', 'abc', '', '99999', ' 4', '4x', '0x10', '٣');
const badGeneration = fc.constantFrom('1.5', 'abc', '', '0x10', ' 1', '1e3', '99999999999999999999', '٣', '9999', '1 2', '+1', '00000000000000001x');
const badPorts = fc.constantFrom('99999', '9000-8000', 'abc', '0', '7500-', '7500-7599-7600', '', ' ', '70000-70001', '7500..7599', '-');
const badListen = fc.constantFrom('localhost', '1.2.3.4:99999', ':80', 'host:0', '', '127.0.0.1', 'http://127.0.0.1:7400', '[::1]', 'a b:80', '127.0.0.1:7400:1');
const badScript = fc.constantFrom('releases/{ver}/x.js', 'a\u0001b', '', ' ', '{version}/{name}.js', 'releases/{}/x.js');
const badFlag = fc.oneof(fc.constantFrom('--frobnicate', '--no-such', '-Z', '--canary-weight=5', '--servce=lobby', '--json=yes', '--wait=1', '---x'), fc.stringMatching(/^--[a-z]{3,12}$/))
  .filter((f) => !['--config', '--json', '--yes', '--service', '--verbose', '--version', '--help', '--canary', '--timeout', '--parallel', '--sync', '--wait', '--now', '--force', '--script', '--ports', '--listen', '--template', '--promote', '--no-promote', '--allow-partial', '--keep', '--terminals', '--duration', '--dir', '--watch'].includes(f));
const extra = fc.constantFrom('extra', '1.0.0', 'now', '');
const commonFlags = fc.subarray(['--json', '--yes', '--verbose'], { maxLength: 2 });

const NO_ANSWERS = 'no answers without a terminal';

type Slot = [label: string, arb: fc.Arbitrary<string[]>];
const slot = (label: string, arb: fc.Arbitrary<string[]>): Slot => [label, arb];

/** One command: its bad slots, and how the rest of its line is made. */
function command(name: string[], slots: Slot[], rest: (bad: string) => fc.Arbitrary<string[]>, cwd: BadArgv['cwd'] = 'project'): fc.Arbitrary<BadArgv> {
  return fc.oneof(...slots.map(([label, arb]) =>
    fc.tuple(arb, rest(label), commonFlags).map(([bad, others, flags]) => ({
      label: `${name.join(' ')}: ${label}`,
      cwd,
      // Without a terminal, --yes would answer every question: that slot must go without it.
      args: [...name, ...bad, ...others, ...flags.filter((f) => !(label === NO_ANSWERS && f === '--yes'))],
    })),
  ));
}

const opt = (flag: string, value: fc.Arbitrary<string>) => fc.option(value.map((v) => [flag, v]), { nil: [] as string[] });
/** The flag with a good value, or absent; absent when it is the bad slot (which adds its own). */
const when = (bad: string, label: string, flag: string, good: fc.Arbitrary<string>) => (bad === label ? fc.constant([] as string[]) : opt(flag, good));
const flat = (parts: fc.Arbitrary<string[]>[]) => fc.tuple(...parts).map((p) => p.flat());

const deploy = command(['deploy'], [
  slot('bad version', badVersion.map((v) => [v])),
  slot('bad --canary', fc.tuple(validVersion, badPercent).map(([v, p]) => [v, '--canary', p])),
  slot('bad --timeout', fc.tuple(validVersion, badDuration).map(([v, d]) => [v, '--timeout', d])),
  slot('bad --parallel', fc.tuple(validVersion, badCount).map(([v, n]) => [v, '--parallel', n])),
  slot('bad --sync', fc.tuple(validVersion, fc.constantFrom('/nonexistent/release', 'switchyard.config.yaml', 'no-such-folder')).map(([v, d]) => [v, '--sync', d])),
  slot('unknown --service', fc.tuple(validVersion, badService).map(([v, s]) => [v, '--service', s])),
  slot('unknown flag', fc.tuple(validVersion, badFlag).map(([v, f]) => [v, f])),
  slot('too many arguments', fc.tuple(validVersion, extra).map(([v, e]) => [v, e])),
  slot('missing version', fc.constant([])),
  slot('missing config', fc.tuple(validVersion, fc.constantFrom('/nonexistent/switchyard.config.yaml', '.', 'releases')).map(([v, c]) => [v, '--config', c])),
], (bad) => flat([
  when(bad, 'bad --canary', '--canary', fc.constantFrom('10', '50')),
  when(bad, 'bad --timeout', '--timeout', fc.constantFrom('5m', '30s')),
  when(bad, 'bad --parallel', '--parallel', fc.constantFrom('1', '8')),
  fc.subarray(['--no-promote', '--wait', '--allow-partial'], { maxLength: 2 }),
]));

const promote = command(['promote'], [
  slot('bad version', badVersion.map((v) => [v])),
  slot('unknown --service', fc.tuple(validVersion, badService).map(([v, s]) => [v, '--service', s])),
  slot('unknown flag', fc.tuple(validVersion, badFlag).map(([v, f]) => [v, f])),
  slot('too many arguments', fc.tuple(validVersion, extra).map(([v, e]) => [v, e])),
  slot('missing version', fc.constant([])),
], () => fc.constant([]));

const drain = command(['drain'], [
  slot('bad version', badVersion.map((v) => [v])),
  slot('bad --timeout', fc.tuple(validVersion, badDuration).map(([v, d]) => [v, '--wait', '--timeout', d])),
  slot('unknown --service', fc.tuple(validVersion, badService).map(([v, s]) => [v, '--service', s])),
  slot('unknown flag', fc.tuple(validVersion, badFlag).map(([v, f]) => [v, f])),
  slot('too many arguments', fc.tuple(validVersion, extra).map(([v, e]) => [v, e])),
  slot('missing version', fc.constant([])),
], (bad) => (bad === 'bad version' ? fc.subarray(['--now', '--wait'], { maxLength: 1 }) : fc.constant([])));

const policyDiff = command(['policy', 'diff'], [
  slot('bad generation', fc.tuple(badGeneration, fc.constantFrom('0', '1'), fc.boolean()).map(([bad, good, first]) => (first ? [bad, good] : [good, bad]))),
  slot('unknown flag', fc.tuple(badFlag).map(([f]) => ['0', '0', f])),
  slot('too many arguments', extra.map((e) => ['0', '0', e])),
  slot('missing generation', fc.constantFrom([], ['0'])),
], () => fc.constant([]));

const init = command(['init'], [
  slot('bad --service', badService.filter((s) => !/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(s)).map((s) => ['--service', s])),
  slot('bad --ports', badPorts.map((p) => ['--ports', p])),
  slot('bad --listen', badListen.map((l) => ['--listen', l])),
  slot('bad --script', badScript.map((s) => ['--script', s])),
  slot('unknown --template', fc.constantFrom('nope', '__proto__', 'constructor', '', 'Service').map((t) => ['--template', t])),
  slot('unknown flag', badFlag.map((f) => [f])),
  slot('too many arguments', extra.map((e) => [e])),
  slot(NO_ANSWERS, fc.constant(['--service', 'lobby'])),
], (bad) => (bad === NO_ANSWERS ? fc.constant([]) : fc.constant(['--yes'])), 'empty');

const unknownCommand = fc.constantFrom<string[]>(['frobnicate'], ['deploi', '1.0.0'], ['policy', 'shw'], ['router', 'restart'], ['policy'], ['router'], ['Deploy', '1.0.0'], ['stats'])
  .map((args): BadArgv => ({ label: 'unknown command', cwd: 'project', args }));

export const badArgv: fc.Arbitrary<BadArgv> = fc.oneof(
  { arbitrary: deploy, weight: 4 },
  { arbitrary: promote, weight: 2 },
  { arbitrary: drain, weight: 2 },
  { arbitrary: policyDiff, weight: 2 },
  { arbitrary: init, weight: 3 },
  { arbitrary: unknownCommand, weight: 1 },
);
