/**
 * HAProxy's CPU instructions per request, counted by valgrind (callgrind):
 * switchyard's rules against the hand-written config, for the proxy rows
 * (two versions alternating by header) and for resolve against HAProxy's
 * own fixed answer. A figure the neighbours on a shared machine cannot
 * move, unlike throughput: what the rules cost, not what the box had left.
 *
 *   npm run build && node --import tsx bench/haproxy/instructions.ts [--requests 1000]
 *
 * Each target runs twice under valgrind (300 requests, then 300 + N): the
 * difference divided by N leaves out start-up and shutdown. User-space
 * instructions of HAProxy only; the kernel's share (the sockets) is the
 * same for both configs.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { configText, freshLayout, mapFilesText } from '../../dist/haproxy/config-text.js';
import { describePolicy } from '../../dist/haproxy/desired.js';
import { mapFile, MAP_NAMES } from '../../dist/haproxy/layout.js';
import { freePort, log, sleep, spawnChild, stopChild, which, type Child } from '../util.js';
import { handWrittenConfig, versionsPolicy, type VersionBackend } from './setup.js';

const { values: flags } = parseArgs({ options: { requests: { type: 'string', default: '1000' } }, strict: true });
const N = Number(flags.requests);
const BASE = 300;
const VERSIONS = ['1.0.0', '1.1.0'];
const RESOLVE = '/v1/resolve?service=bench&version=1.0.0';

/** Sends `n` GETs over 4 keep-alive connections, the version header alternating. */
async function send(port: number, path: string, n: number): Promise<void> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 4 });
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const r = await pool.request({ path, method: 'GET', headers: { 'x-switchyard-version': VERSIONS[i % 2]! } });
      await r.body.dump();
      if (r.statusCode !== 200) throw new Error(`${path} on ${port} answered ${r.statusCode}`);
    }
  };
  try {
    await Promise.all([worker(), worker(), worker(), worker()]);
  } finally {
    await pool.close();
  }
}

/** Total instructions of one HAProxy run under callgrind that answers `n` requests. */
async function instructions(cfg: string, port: number, path: string, n: number, scratch: string): Promise<number> {
  const out = join(scratch, `callgrind.${port}.${n}.out`);
  const vg = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, 'haproxy', '-db', '-q', '-f', cfg], { stdio: 'ignore' });
  try {
    for (let i = 0; ; i++) {
      try {
        await send(port, path, 1);
        break;
      } catch (error) {
        if (i > 200) throw error;
        await sleep(100);
      }
    }
    await send(port, path, n);
  } finally {
    vg.kill('SIGUSR1');
    await new Promise((done) => vg.once('exit', done));
  }
  const totals = execFileSync('callgrind_annotate', [out], { encoding: 'utf8' }).split('\n').find((l) => l.includes('PROGRAM TOTALS'));
  return Number(totals!.trim().split(/\s+/)[0]!.replace(/,/g, ''));
}

async function main(): Promise<void> {
  if (which('valgrind') === undefined || which('haproxy') === undefined) throw new Error('install valgrind and haproxy (apt-get install valgrind haproxy)');
  const scratch = await mkdtemp(join(tmpdir(), 'sy-bench-hx-ir-'));
  const children: Child[] = [];
  try {
    const backends: VersionBackend[] = [];
    for (const version of VERSIONS) {
      const port = await freePort();
      children.push(await spawnChild(`backend ${version}`, process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'router', 'servers.ts'), 'backend', String(port)], { readyText: 'ready' }));
      backends.push({ version, port });
    }
    const dir = join(scratch, 'sy');
    await mkdir(dir);
    const ports = { sy: await freePort(), router: await freePort(), hand: await freePort(), fixed: await freePort() };
    const desired = describePolicy(versionsPolicy(backends));
    const layout = freshLayout(desired);
    const maps = mapFilesText(desired, layout);
    for (const name of MAP_NAMES) await writeFile(mapFile(dir, name), maps[name]);
    const settings = { dir, listen: { host: '127.0.0.1', port: ports.sy }, threads: 1, router: { host: '127.0.0.1', port: ports.router }, versionHeader: 'x-switchyard-version', serviceHeader: 'x-switchyard-service', forwardFor: false };
    // One process under valgrind: no master, no admin socket (neither is on a request's path).
    const syCfg = join(dir, 'haproxy.cfg');
    await writeFile(syCfg, configText(settings, desired, layout).replace(/^ {2}(master-worker|stats socket .*)\n/gm, ''));
    const resolveBody = JSON.stringify({ service: 'bench', version: '1.0.0', address: '127.0.0.1', port: backends[0]!.port, process: 'bench@1.0.0#0' });
    const handCfg = join(scratch, 'hand.cfg');
    await writeFile(handCfg, handWrittenConfig(ports.hand, backends, ports.fixed, resolveBody));
    const rows: Array<[string, string, number, string]> = [
      ["switchyard's HAProxy, two versions by header", syCfg, ports.sy, '/api/ping'],
      ['hand-written config, two versions by header', handCfg, ports.hand, '/api/ping'],
      ['resolve answered by switchyard\'s HAProxy', syCfg, ports.sy, RESOLVE],
      ["HAProxy's own fixed answer", handCfg, ports.fixed, RESOLVE],
    ];
    for (const [label, cfg, port, path] of rows) {
      log(`${label}: ${BASE} and ${BASE + N} requests under callgrind…`);
      const per = ((await instructions(cfg, port, path, BASE + N, scratch)) - (await instructions(cfg, port, path, BASE, scratch))) / N;
      process.stdout.write(`${label}: ${Math.round(per).toLocaleString('en-US')} instructions/request\n`);
    }
  } finally {
    for (const child of children) await stopChild(child).catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
