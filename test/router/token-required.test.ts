import { readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, projectCli, writeRouterProject, type RouterProject } from '../helpers/router-process.js';

/**
 * Issue 20: a router host without the state's token refuses to start
 * (`router run` and `router start`, the built CLI), says which file to copy
 * and from where, and creates nothing: no token of its own (it would answer
 * 401 to every heartbeat signed with the real one), no logs, no PM2 home.
 */

const checkUserPm2 = guardUserPm2Home();
const projects: RouterProject[] = [];

afterAll(async () => {
  await Promise.allSettled(projects.map((p) => p.cleanup()));
  checkUserPm2();
});

/** Every path under `dir`, relative to it. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      out.push(relative(dir, path));
      if (entry.isDirectory()) walk(path);
    }
  };
  walk(dir);
  return out.sort();
}

async function projectWithoutToken(opts: { stateFolder: boolean; routerUrl?: string }): Promise<RouterProject> {
  const project = await writeRouterProject({
    policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 1),
    ...(opts.routerUrl === undefined ? {} : { router: { url: opts.routerUrl } }),
  });
  projects.push(project);
  await rm(opts.stateFolder ? join(project.stateDir, 'token') : project.stateDir, { recursive: true, force: true });
  return project;
}

describe('a router host without the token', () => {
  it.each([
    ['router run', 'a state folder without the token'],
    ['router run', 'no state folder'],
    ['router start', 'a state folder without the token'],
    ['router start', 'no state folder'],
  ] as const)('`%s` with %s refuses to start and creates nothing', { timeout: 60_000 }, async (command, where) => {
    const args = command.split(' ');
    const project = await projectWithoutToken({ stateFolder: where !== 'no state folder' });
    const before = { project: tree(project.dir), pm2: tree(project.pm2Home) };
    const cli = projectCli(project, project.pm2Home);
    const started = Date.now();
    const result = await cli(...args);
    expect(result.exitCode, result.stderr).toBe(2);
    expect(Date.now() - started).toBeLessThan(15_000);
    const tokenPath = join(project.stateDir, 'token');
    expect(result.stderr).toContain(`There is no token at ${tokenPath}`);
    expect(result.stderr).toContain(`copy ${tokenPath} from the host where \`switchyard init\` made it`);
    expect(result.stderr).toContain('Nothing was created');
    expect({ project: tree(project.dir), pm2: tree(project.pm2Home) }).toEqual(before);
  });

  it('names the routers of router.url as where to copy the token from', { timeout: 30_000 }, async () => {
    const project = await projectWithoutToken({ stateFolder: true, routerUrl: 'http://router-a.internal:7400,http://router-b.internal:7400' });
    const result = await projectCli(project, project.pm2Home)('router', 'run', '--json');
    expect(result.exitCode).toBe(2);
    const error = JSON.parse(result.stdout) as { ok: boolean; error: string; message: string };
    expect(error).toMatchObject({ ok: false, error: 'token_missing' });
    expect(error.message).toContain('router.url lists router-a.internal, router-b.internal');
  });
});
