import { describe, expect, it } from 'vitest';
import type { Config, HostConfig } from '../../src/config/schema.js';
import { PortBook } from '../../src/ops/port-book.js';
import { policyOf, proc, service } from '../helpers/policy-builder.js';

function host(name: string, address: string, ssh?: string): HostConfig {
  return { name, address, local: ssh === undefined, ssh, port: undefined, identityFile: undefined, sshOptions: [], pm2Home: undefined, nodePath: undefined, pm2Path: undefined };
}

const config = {
  hosts: {
    local: host('local', '127.0.0.1'),
    also: host('also', '10.0.0.9'),
    east: host('east', '127.0.0.1', 'root@127.0.0.1'),
    west: host('west', '127.0.0.1', 'root@127.0.0.1'),
    far: host('far', '192.0.2.7', 'deploy@far'),
  },
} as unknown as Config;

/** Hosts with the same machine (address for ssh hosts; every local host is this machine) never get one port twice. */
describe('PortBook', () => {
  const policy = policyOf({ lobby: service('1.0.0', [proc('lobby@1.0.0#0', 'active', 7500, { host: 'east' }), proc('lobby@0.9.0#0', 'retired', 7501, { host: 'west' })]) });

  it('blocks ports that sibling hosts hold in the policy, not retired ones, not other machines', () => {
    const book = new PortBook(config, policy, ['east', 'west', 'far']);
    expect(book.candidatesFor('west', [7500, 7501, 7502])).toEqual([7501, 7502]);
    expect(book.candidatesFor('far', [7500, 7501])).toEqual([7500, 7501]);
  });

  it('hands a port out once per machine, even when both hosts found it free', () => {
    const book = new PortBook(config, policy, ['east', 'west', 'far']);
    expect(book.take('east', [7502, 7503], 1)).toEqual([7502]);
    expect(book.take('west', [7502, 7503], 1)).toEqual([7503]);
    expect(book.take('far', [7502], 1)).toEqual([7502]);
    expect(book.candidatesFor('west', [7502, 7503, 7504])).toEqual([7504]);
  });

  it('treats every local host as this machine, whatever its address', () => {
    const book = new PortBook(config, policyOf({}), ['local', 'also']);
    expect(book.sharers('local')).toBe(2);
    expect(book.take('local', [7600, 7601], 1)).toEqual([7600]);
    expect(book.take('also', [7600, 7601], 1)).toEqual([7601]);
  });

  it('says when too few ports are left', () => {
    const book = new PortBook(config, policyOf({}), ['east', 'west']);
    expect(book.take('east', [7600], 1)).toEqual([7600]);
    expect(book.take('west', [7600], 1)).toBeUndefined();
    expect(book.sharers('east')).toBe(2);
    expect(book.sharers('far')).toBe(0);
  });
});
