import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveKey } from '../../src/protocol/signing.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';

/**
 * The Python heartbeat of docs/signing.md, as written there, against a
 * router whose policy drains the process's version: it reads the drain
 * notice from the 200 answer (the page's section "The answer to a heartbeat").
 */

const DOC = readFileSync(resolve(import.meta.dirname, '../../docs/signing.md'), 'utf8');
const PYTHON = /```python\n([\s\S]*?)```/.exec(DOC)?.[1];
let python = true;
try {
  execFileSync('python3', ['--version'], { stdio: 'ignore' });
} catch {
  python = false;
  console.warn('skipping the drain notice of the Python example of docs/signing.md: install python3 (apt-get install python3)');
}

const DRAINING = 'lobby@1.4.0#0';
let router: RouterProcess;

beforeAll(async () => {
  router = await startRouter({
    policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }, { version: '1.4.0', port: 7500, state: 'draining' }] } }, 1),
  });
});
afterAll(() => stopAllRouters());

describe('docs/signing.md, the drain notice', () => {
  it.skipIf(!python)('the Python heartbeat of a draining version gets 200 and hands the notice to on_drain', async () => {
    expect(PYTHON, 'docs/signing.md has no python example').toBeDefined();
    const script = `${PYTHON}\nprint(heartbeat({"1.4.0": 1}, 0, on_drain=lambda notice: print(json.dumps(notice))))\n`;
    const run = await execa('python3', ['-c', script], {
      env: { SWITCHYARD_TOKEN: deriveKey(router.token, DRAINING), SWITCHYARD_PROCESS: DRAINING, SWITCHYARD_SERVICE: 'lobby', SWITCHYARD_VERSION: '1.4.0', SWITCHYARD_ROUTER_URL: router.url },
      timeout: 20_000,
      reject: false,
    });
    expect(run.stderr).toBe('');
    const [notice, status] = run.stdout.trim().split('\n');
    expect(status).toBe('200');
    expect(JSON.parse(notice!)).toEqual({ since: '2026-11-25T10:00:00.000Z', deadline: '2099-01-01T00:00:00.000Z' });
  });
});
