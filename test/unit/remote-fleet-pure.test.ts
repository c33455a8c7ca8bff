import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../src/core/errors.js';
import { parseJlist } from '../../src/fleet/pm2-jlist.js';
import { checkRemoteProcessId } from '../../src/fleet/remote-fleet.js';
import { mapLimit } from '../../src/ops/parallel.js';

const APP = { name: 'lobby@1.0.0#0', pid: 42, pm_id: 0, monit: { cpu: 3, memory: 1024 }, pm2_env: { status: 'online', restart_time: 1, pm_uptime: Date.now() - 5000, env: { PORT: '7500' } } };

describe('parseJlist', () => {
  it.each([
    ['one JSON line', JSON.stringify([APP])],
    ['daemon banner first', `\n   ____ PM2 banner ____\n[PM2] Spawning PM2 daemon with pm2_home=/tmp/x\n[PM2] PM2 Successfully daemonized\n${JSON.stringify([APP])}\n`],
    ['a line that looks like a list but is not JSON', `[PM2] [not json]\n${JSON.stringify([APP])}`],
    ['CRLF line ends', `[PM2] hello\r\n${JSON.stringify([APP])}\r\n`],
  ])('reads the list with %s', (_name, stdout) => {
    const [p] = parseJlist(stdout, 'east');
    expect(p).toMatchObject({ id: 'lobby@1.0.0#0', pid: 42, status: 'online', cpu: 3, memory: 1024, restarts: 1 });
    expect(p!.uptimeMs).toBeGreaterThanOrEqual(4000);
  });

  it('reads an empty list', () => expect(parseJlist('[PM2] Spawning PM2 daemon\n[]\n', 'east')).toEqual([]));

  it('skips entries without a name and tolerates missing fields', () => {
    expect(parseJlist(JSON.stringify([{ pid: 1 }, { name: 'x@1.0.0#0' }]), 'east')).toEqual([
      { id: 'x@1.0.0#0', pid: 0, status: 'unknown', cpu: 0, memory: 0, uptimeMs: null, restarts: 0 },
    ]);
  });

  it.each([[''], ['[PM2] Spawning PM2 daemon'], ['{"not":"a list"}'], ['[1, 2']])('names the host when there is no list in %j', (stdout) => {
    expect(() => parseJlist(stdout, 'east')).toThrow(/host east/);
  });
});

describe('checkRemoteProcessId', () => {
  it.each([['lobby@1.0.0#0'], ['a_b-c@1.5.0-rc.1+build.7#12']])('accepts %j', (id) => expect(checkRemoteProcessId(id)).toBe(id));
  it.each([
    ['lobby@1.0.0;touch x#0'], ['$(id)@1.0.0#0'], ['lobby@`id`#0'], ['lobby@1.0.0#0\n'], ['-oProxyCommand=x@1.0.0#0'], ['lobby@1.0#0'], ['lobby'],
  ])('refuses %j before any ssh call', (id) => {
    expect(() => checkRemoteProcessId(id)).toThrow(SwitchyardError);
  });
});

describe('mapLimit', () => {
  it('keeps order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0], 2, async (n) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, n * 3));
      running -= 1;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0]);
    expect(peak).toBe(2);
  });

  it('handles no items and a limit above the count', async () => {
    expect(await mapLimit([], 8, async () => 1)).toEqual([]);
    expect(await mapLimit([1, 2], 8, async (n) => n)).toEqual([1, 2]);
  });
});
