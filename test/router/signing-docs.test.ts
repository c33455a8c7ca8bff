import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveKey } from '../../src/protocol/signing.js';
import { http } from '../helpers/http.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';
import { cliHeaders } from '../helpers/signed.js';

/**
 * The examples of docs/signing.md, run as written there against a real
 * router: a service in another language can implement the scheme from that
 * page alone.
 */

const DOC = readFileSync(resolve(import.meta.dirname, '../../docs/signing.md'), 'utf8');
const block = (lang: string) => {
  const match = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(DOC);
  if (match === null) throw new Error(`docs/signing.md has no ${lang} example`);
  return match[1]!;
};
const has = (tool: string, args: string[]) => {
  try {
    execFileSync(tool, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const python = has('python3', ['--version']);
const shell = has('openssl', ['version']) && has('curl', ['--version']) && has('sha256sum', ['--version']);
if (!python) console.warn('skipping the Python example of docs/signing.md: install python3 (apt-get install python3)');
if (!shell) console.warn('skipping the shell example of docs/signing.md: install openssl, curl and coreutils (apt-get install openssl curl coreutils)');

const PROCESS = 'lobby@1.5.0#0.g3';
let router: RouterProcess;

beforeAll(async () => {
  const policy = buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 1);
  policy.services!.lobby!.processes![0]!.id = PROCESS;
  router = await startRouter({ policy });
});
afterAll(() => stopAllRouters());

describe('docs/signing.md examples', () => {
  it.skipIf(!python)('the Python heartbeat is accepted and counted', async () => {
    const script = `${block('python')}\nprint(heartbeat({"1.5.0": 2, "1.4.0": 1}, 0))\n`;
    const run = await execa('python3', ['-c', script], {
      env: { SWITCHYARD_TOKEN: deriveKey(router.token, PROCESS), SWITCHYARD_PROCESS: PROCESS, SWITCHYARD_SERVICE: 'lobby', SWITCHYARD_VERSION: '1.5.0', SWITCHYARD_ROUTER_URL: router.url },
      timeout: 20_000,
      reject: false,
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('204');
    const status = (await http(`${router.url}/v1/status`, { headers: cliHeaders(router.token) })).json<{ services: { lobby: { tally: unknown } } }>();
    expect(status.services.lobby.tally).toEqual([{ version: '1.5.0', terminals: 2, share: 0.6667 }, { version: '1.4.0', terminals: 1, share: 0.3333 }]);
  });

  it.skipIf(!shell)('the shell status call is answered', async () => {
    const run = await execa('sh', ['-c', block('sh')], { cwd: router.dir, env: { ROUTER: router.url }, timeout: 20_000, reject: false });
    expect(run.exitCode, run.stderr).toBe(0);
    const body = JSON.parse(run.stdout) as { generation: number; services: Record<string, unknown> };
    expect(body.generation).toBe(1);
    expect(Object.keys(body.services)).toEqual(['lobby']);
  });
});
