import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SSH_OPTIONS_ALLOWED } from '../../src/config/fields.js';
import { loadConfig, type ConfigProblem } from '../../src/config/load.js';
import { failure, project, removeProjects, YAML_FILE } from '../helpers/config-project.js';

// The ssh option allowlist: only options that choose identity, port, host keys, timeouts and
// keep-alives load; everything else is refused at config load, naming the key.
afterAll(removeProjects);

const config = (option: string): string =>
  `hosts:\n  local: { address: 127.0.0.1 }\n  edge: { ssh: deploy@edge, address: edge.example, sshOptions: ["${option}"] }\n`;

const ACCEPTED: Record<(typeof SSH_OPTIONS_ALLOWED)[number], string> = {
  IdentityFile: '~/.ssh/deploy_ed25519',
  IdentitiesOnly: 'yes',
  CertificateFile: '~/.ssh/deploy-cert.pub',
  Port: '2222',
  StrictHostKeyChecking: 'accept-new',
  UserKnownHostsFile: '/srv/ops/known_hosts',
  GlobalKnownHostsFile: '/etc/ssh/ssh_known_hosts',
  HostKeyAlias: 'edge-1',
  HostKeyAlgorithms: 'ssh-ed25519,rsa-sha2-512',
  CheckHostIP: 'no',
  ConnectTimeout: '5',
  ConnectionAttempts: '3',
  ServerAliveInterval: '15',
  ServerAliveCountMax: '3',
  TCPKeepAlive: 'yes',
};

const REFUSED = [
  'PKCS11Provider=/tmp/evil.so',
  'SecurityKeyProvider=/tmp/evil.so',
  'ProxyJump=jump@bastion',
  'ForwardAgent=yes',
  'ProxyCommand=/tmp/x',
  'LocalCommand=/tmp/x',
  'PermitLocalCommand=yes',
  'KnownHostsCommand=/tmp/x',
  'RemoteCommand=/tmp/x',
  'ForwardX11=yes',
  'LocalForward=9000:127.0.0.1:22',
  'RemoteForward=9000:127.0.0.1:22',
  'DynamicForward=1080',
  'ControlMaster=yes',
  'ControlPath=/tmp/sock',
  'IdentityAgent=/tmp/agent.sock',
  'SendEnv=LD_PRELOAD',
  'SetEnv=LD_PRELOAD=/tmp/evil.so',
  'Include=/tmp/other_config',
  'Hostname=attacker.example',
  'User=root',
  'BatchMode=no',
  'Tunnel=yes',
  'StreamLocalBindUnlink=yes',
];

describe('ssh options: an allowlist', () => {
  it.each(Object.entries(ACCEPTED))('accepts %s', async (key, value) => {
    const dir = await project({ [YAML_FILE]: config(`${key}=${value}`) });
    const loaded = await loadConfig({ cwd: dir, env: {} });
    expect(loaded.config.hosts.edge?.sshOptions).toEqual([`${key}=${value}`]);
  });

  it('accepts the allowed keys in any letter case, as ssh does', async () => {
    const dir = await project({ [YAML_FILE]: config('stricthostkeychecking=yes') });
    expect((await loadConfig({ cwd: dir, env: {} })).config.hosts.edge?.sshOptions).toEqual(['stricthostkeychecking=yes']);
  });

  it.each(REFUSED.flatMap((option) => [option, option.toLowerCase()]))('refuses %s, naming the key and ~/.ssh/config', async (option) => {
    const dir = await project({ [YAML_FILE]: config(option) });
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    expect(error.exitCode).toBe(2);
    expect(error.code).toBe('config_invalid');
    const problems = error.details?.problems as ConfigProblem[];
    const problem = problems.find((p) => p.path === 'hosts.edge.sshOptions[0]');
    expect(problem, JSON.stringify(problems)).toBeDefined();
    const key = option.slice(0, option.indexOf('='));
    expect(problem!.expected).toContain(`${key} is not one of them`);
    expect(problem!.expected).toContain('~/.ssh/config');
    expect(error.message).toContain(join(dir, YAML_FILE));
  });
});
