import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import type { Policy } from '../../src/core/policy-schema.js';
import { ensureToken } from '../../src/store/token.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { ChildTracker, captureStderr } from '../helpers/child-processes.js';
import { BIN, runCli, type CliResult } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { makePm2Home, type Pm2Home } from '../helpers/pm2-home.js';
import type { SshdFleet } from '../helpers/sshd.js';

/**
 * A project folder whose service runs on ssh "hosts" (test/helpers/sshd.ts):
 * config, an empty policy, a release folder to --sync, and the CLI and
 * router run as a person would. The local PM2_HOME is private (and stays
 * unused: every host is remote), so nothing touches ~/.pm2.
 */

const SDK = pathToFileURL(resolve(import.meta.dirname, '../../dist/sdk/heartbeat.js')).href;

/** A small service: answers with its version and process, sends heartbeats (no terminals), stops on SIGINT. */
export const SERVER = `import { createServer } from 'node:http';
import { startHeartbeat } from ${JSON.stringify(SDK)};
const server = createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ version: process.env.SWITCHYARD_VERSION, process: process.env.SWITCHYARD_PROCESS, home: process.env.HOME }));
});
const heartbeat = startHeartbeat({ terminals: () => [] });
server.listen(Number(process.env.PORT), () => console.log(\`\${process.env.SWITCHYARD_PROCESS} listening on \${process.env.PORT}\`));
process.once('SIGINT', async () => {
  await heartbeat.stop().catch(() => {});
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
`;

export interface RemoteProject {
  dir: string;
  releaseDir: string;
  routerUrl: string;
  pm2: Pm2Home;
  cli(args: string[], env?: Record<string, string | undefined>): Promise<CliResult>;
  /** `--json` result of a command (stdout parsed). */
  json(args: string[], env?: Record<string, string | undefined>): Promise<{ exitCode: number; body: Record<string, any>; stderr: string }>;
  policy(): Promise<Policy>;
  /** A router run in the foreground (`router run`), as a child of the test: `down` stops routers under PM2, not this one. */
  startRouter(): Promise<{ log(): string; stop(): Promise<void> }>;
  cleanup(): Promise<void>;
}

export async function makeRemoteProject(fleet: SshdFleet, opts: { ports?: string; services?: Record<string, unknown>; hosts?: Record<string, unknown> } = {}): Promise<RemoteProject> {
  const dir = await mkdtemp('/tmp/sy-rp-');
  const releaseDir = join(dir, 'release');
  await mkdir(releaseDir);
  await writeFile(join(releaseDir, 'server.mjs'), SERVER);
  const pm2 = await makePm2Home();
  const routerPort = await freePort();
  const config = {
    state: '.switchyard',
    pm2Home: pm2.home,
    router: { listen: `127.0.0.1:${routerPort}`, heartbeatInterval: '200ms', staleAfter: 5 },
    hosts: opts.hosts ?? Object.fromEntries(fleet.hosts.map((h) => [h.name, h.config()])),
    services: opts.services ?? {
      lobby: {
        script: 'releases/{version}/server.mjs',
        ports: opts.ports ?? '17300-17349',
        hosts: fleet.hosts.map((h) => h.name),
        readiness: { http: '/', timeout: '10s' },
        drain: { grace: 1, timeout: '5m' },
        killTimeout: '2s',
      },
    },
  };
  await writeFile(join(dir, 'switchyard.config.yaml'), stringify(config));
  await new PolicyStore(join(dir, '.switchyard')).init();
  // What `init` makes: the state's token (a router or a deploy never makes one).
  await ensureToken(join(dir, '.switchyard'));
  const children = new ChildTracker();
  const cli = (args: string[], env: Record<string, string | undefined> = {}) => runCli(args, { cwd: dir, env: { ...pm2.env, ...env }, timeoutMs: 45_000 });
  const routerUrl = `http://127.0.0.1:${routerPort}`;
  return {
    dir, releaseDir, routerUrl, pm2, cli,
    async json(args, env) {
      const r = await cli([...args, '--json'], env);
      let body: Record<string, any>;
      try {
        body = JSON.parse(r.stdout) as Record<string, any>;
      } catch {
        throw new Error(`no JSON from switchyard ${args.join(' ')} (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
      }
      return { exitCode: r.exitCode, body, stderr: r.stderr };
    },
    policy: () => new PolicyStore(join(dir, '.switchyard')).read(),
    async startRouter() {
      const child: ChildProcess = children.spawn('node', [BIN, 'router', 'run'], { cwd: dir, env: { ...pm2.env, CI: 'true', NO_COLOR: '1' } });
      const log = captureStderr(child);
      const deadline = Date.now() + 15_000;
      for (;;) {
        const up = await fetch(`${routerUrl}/healthz`).then(() => true, () => false);
        if (up) break;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the router did not start: ${log()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return {
        log,
        async stop() {
          if (child.exitCode !== null) return;
          const gone = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await gone;
        },
      };
    },
    async cleanup() {
      await children.killAll();
      await pm2.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
