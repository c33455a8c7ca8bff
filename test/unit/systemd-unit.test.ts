import { describe, expect, it } from 'vitest';
import { systemdUnit, unitName, type UnitInput } from '../../src/fleet/systemd-unit.js';

const INPUT: UnitInput = {
  configFile: '/srv/lobby/switchyard.config.yaml',
  dir: '/srv/lobby',
  stateDir: '/srv/lobby/.switchyard',
  pm2Home: '/srv/lobby/.switchyard/pm2',
  node: '/usr/local/bin/node',
  bin: '/srv/lobby/node_modules/switchyard-cli/bin/switchyard.js',
  path: '/usr/local/bin:relative/bin:/usr/bin',
  user: 'deploy',
};

const line = (unit: string, key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`));

describe('the systemd unit', () => {
  it('runs the project\'s own switchyard router start as the user, with PM2_HOME, watching the daemon', () => {
    const unit = systemdUnit(INPUT);
    expect(line(unit, 'ExecStart')).toEqual(['ExecStart=/usr/local/bin/node /srv/lobby/node_modules/switchyard-cli/bin/switchyard.js router start --config /srv/lobby/switchyard.config.yaml']);
    expect(line(unit, 'User')).toEqual(['User=deploy']);
    expect(line(unit, 'Environment')).toEqual(['Environment="PM2_HOME=/srv/lobby/.switchyard/pm2"', 'Environment="PATH=/usr/local/bin:/usr/bin"']);
    expect(line(unit, 'PIDFile')).toEqual(['PIDFile=/srv/lobby/.switchyard/pm2/pm2.pid']);
    expect(line(unit, 'Type')).toEqual(['Type=forking']);
    expect(line(unit, 'Restart')).toEqual(['Restart=on-failure']);
    expect(line(unit, 'After')).toEqual(['After=network-online.target']);
    expect(line(unit, 'Wants')).toEqual(['Wants=network-online.target']);
    expect(line(unit, 'EnvironmentFile')).toEqual(['EnvironmentFile=-/srv/lobby/.switchyard/systemd.env']);
    expect(line(unit, 'WantedBy')).toEqual(['WantedBy=multi-user.target']);
  });

  it('a user unit names no user and is wanted by default.target', () => {
    const unit = systemdUnit({ ...INPUT, user: undefined });
    expect(line(unit, 'User')).toEqual([]);
    expect(line(unit, 'WantedBy')).toEqual(['WantedBy=default.target']);
  });

  it('quotes paths with spaces and escapes %, $, " and \\ as systemd reads them', () => {
    const unit = systemdUnit({ ...INPUT, configFile: '/srv/my lobby/100%/$HOME/"q"\\.yaml', pm2Home: '/srv/50% off/pm2' });
    expect(line(unit, 'ExecStart')[0]).toBe('ExecStart=/usr/local/bin/node /srv/lobby/node_modules/switchyard-cli/bin/switchyard.js router start --config "/srv/my lobby/100%%/$$HOME/\\"q\\"\\\\.yaml"');
    expect(line(unit, 'Environment')[0]).toBe('Environment="PM2_HOME=/srv/50%% off/pm2"');
    expect(line(unit, 'PIDFile')).toEqual(['PIDFile=/srv/50%% off/pm2/pm2.pid']);
  });

  it.each([
    ['a relative config path', { configFile: 'switchyard.config.yaml' }, /absolute path/],
    ['a line break in a path', { dir: '/srv/a\nExecStartPre=/bin/rm' }, /line break/],
    ['a relative node', { node: 'node' }, /absolute path/],
    ['a user systemd would not take', { user: 'deploy\nUser=root' }, /not a name systemd takes/],
  ])('refuses %s', (_what, change, message) => {
    expect(() => systemdUnit({ ...INPUT, ...change })).toThrow(message);
  });

  it.each([
    ['/srv/lobby', 'switchyard-lobby'],
    ['/home/me/My Game!', 'switchyard-My-Game-'],
    ['/', 'switchyard-project'],
  ])('names the unit of %s %s', (dir, name) => {
    expect(unitName(dir)).toBe(name);
  });
});
