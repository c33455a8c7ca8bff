import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAllBackends, startBackend, type BackendAnswer } from '../helpers/backends.js';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { closeHttp, http } from '../helpers/http.js';
import { buildPolicy, cliEnv, writeRouterProject, type RouterProject } from '../helpers/router-process.js';

/**
 * `switchyard export nginx`: the printed config passes `nginx -t`, and a
 * real nginx running it routes by every carrier and by the patch rule to
 * the same versions the router would choose.
 */

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
if (NGINX === undefined) console.warn('skipping: install nginx (apt-get install nginx)');

let project: RouterProject | undefined;
let nginx: ChildProcess | undefined;

afterAll(async () => {
  if (nginx?.pid !== undefined && nginx.exitCode === null) {
    const gone = new Promise((r) => nginx!.once('exit', r));
    nginx.kill('SIGQUIT');
    await gone;
  }
  await project?.cleanup();
  await closeAllBackends();
  await closeHttp();
});

function wrapper(dir: string, include: string): string {
  return [
    'daemon off;', 'master_process on;', 'worker_processes 1;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log;`, 'events {}',
    'http {', '  access_log off;', `  client_body_temp_path ${dir}/tmp;`, `  proxy_temp_path ${dir}/tmp;`, `  include ${include};`, '}', '',
  ].join('\n');
}

describe.skipIf(NGINX === undefined)('export nginx', () => {
  it('prints a config nginx accepts and routes by, like the router', async () => {
    const [b150, b151, b140] = await Promise.all([startBackend({ version: '1.5.0' }), startBackend({ version: '1.5.1' }), startBackend({ version: '1.4.0' })]);
    project = await writeRouterProject({
      mode: 'proxy',
      policy: buildPolicy({ lobby: { target: '1.5.1', match: 'patch', processes: [{ version: '1.5.1', port: b151.port }, { version: '1.5.0', port: b150.port, state: 'draining' }, { version: '1.4.0', port: b140.port, state: 'draining' }] } }, 3),
    });
    const port = await freePort();
    const result = await runCli(['export', 'nginx', '--listen', `127.0.0.1:${port}`], { cwd: project.dir, env: cliEnv(project.pm2Home) });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('# switchyard routing policy, generation 3');

    const dir = join(project.dir, 'nginx');
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await writeFile(join(dir, 'switchyard.conf'), result.stdout);
    await writeFile(join(dir, 'nginx.conf'), wrapper(dir, join(dir, 'switchyard.conf')));
    const check = spawnSync(NGINX!, ['-t', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { encoding: 'utf8', timeout: 20_000 });
    expect(check.status, check.stderr).toBe(0);

    nginx = spawn(NGINX!, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    while ((await http(`${url}/x`, { headers: { 'x-switchyard-version': '1.5.1' } }).catch(() => undefined))?.status !== 200) {
      if (Date.now() > deadline) throw new Error('nginx did not start routing');
      await new Promise((r) => setTimeout(r, 50));
    }
    const cases: [Record<string, string>, string, string][] = [
      [{ 'x-switchyard-version': '1.4.0' }, '/x', '1.4.0'],
      [{}, '/x?a=1&switchyard-version=1.5.0', '1.5.0'],
      [{ cookie: 'theme=dark; switchyard-version=1.4.0' }, '/x', '1.4.0'],
      [{ 'x-switchyard-version': '1.5.0', cookie: 'switchyard-version=1.4.0' }, '/x', '1.5.0'],
      // patch: 1.5.7 goes to the newest active 1.5.x, 1.4.2 to the draining 1.4.0.
      [{ 'x-switchyard-version': '1.5.7' }, '/x', '1.5.1'],
      [{ 'x-switchyard-version': '1.4.2' }, '/x', '1.4.0'],
    ];
    for (const [headers, path, version] of cases) {
      const answer = await http(`${url}${path}`, { headers });
      expect(answer.status, `${path} ${JSON.stringify(headers)}`).toBe(200);
      expect(answer.json<BackendAnswer>().version, `${path} ${JSON.stringify(headers)}`).toBe(version);
    }
  });
});
