/**
 * The HAProxy data-plane benchmark (not a test): `npm run bench:haproxy [-- flags]`.
 *
 * In one run, servers pinned to CPU 0 and wrk to CPU 1 (taskset), the
 * targets alternated round by round and the median taken. The proxy rows
 * route two versions to two backends (1.0.0 and 1.1.0, one process each,
 * beside the proxies on CPU 0), the version header alternating from one
 * request to the next (a wrk Lua script, bench/haproxy/alternate.ts):
 * switchyard's HAProxy (router.dataPlane: haproxy, one HAProxy thread)
 * against a hand-written HAProxy config (one header match per version,
 * one thread) and against the router's built-in proxy; nginx proxying by
 * a map (bench/router/nginx.ts routes one version, so it gets one);
 * GET /v1/resolve answered by HAProxy against nginx's fixed answer and
 * against HAProxy's own fixed answer (a hand-written `http-request return`,
 * the ceiling of any answer HAProxy gives itself); bare
 * node:http answering the backend's bytes (Node's ceiling); and the time
 * from a policy write until HAProxy routes by it.
 *
 * Flags:
 *   --quick            1 s runs, one round, few policy writes (CI: checks that it runs)
 *   --write-docs       write the HAProxy block of docs/performance.md
 *   --out <file>       where the JSON goes (default: a file in the OS temp folder)
 *   --duration <s>     seconds per load run (default 5; quick 1)
 *   --rounds <n>       rounds (default 3; quick 1)
 *   --connections <n>  wrk connections (default 32)
 *   --unpinned         do not pin (servers and wrk share both cores)
 *   --only resolve     only resolve and the two fixed answers (nginx's, HAProxy's); no --write-docs
 *
 * Exit code: 0 when it ran (missed targets are reported, not failed);
 * 1 when it could not run or a check failed.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { wrkTool, type LoadTool } from './router/load.js';
import { startNginx, stopNginx } from './router/nginx.js';
import { BACKEND_BODY_TEXT } from './router/backend-body.js';
import { alternatingWrk } from './haproxy/alternate.js';
import { cpuRow, HEADER, propagation, ratioRow, type Target } from './haproxy/figures.js';
import { startHandWritten, startSwitchyard, stopSwitchyard, versionsPolicy, type SwitchyardEdge, type VersionBackend } from './haproxy/setup.js';
import { commandOutput, treeCpuMicros, defaultJsonPath, fmt, fmtInt, freePort, httpGet, log, mdTable, median, npmCommand, replaceDocsBlock, runBench, spawnChild, stopChild, which, writeJson, type BenchJson, type Child, type SummaryRow } from './util.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DOCS = join(ROOT, 'docs', 'performance.md');
const BEGIN = '<!-- bench:haproxy:begin (written by `npm run bench:haproxy -- --write-docs`; edit outside these markers) -->';
const END = '<!-- bench:haproxy:end -->';
const VERSIONS = ['1.0.0', '1.1.0'];
const VERSION = VERSIONS[0]!;

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'write-docs': { type: 'boolean', default: false },
    out: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    connections: { type: 'string' },
    unpinned: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
  strict: true,
});
const quick = flags.quick === true;
if (flags.only !== undefined && (flags.only !== 'resolve' || flags['write-docs'] === true)) throw new Error('--only takes "resolve", and not with --write-docs (the docs block has every row)');
const onlyResolve = flags.only === 'resolve';
const S = {
  durationS: Number(flags.duration ?? (quick ? 1 : 5)),
  rounds: Number(flags.rounds ?? (quick ? 1 : 3)),
  connections: Number(flags.connections ?? 32),
  propagationWrites: quick ? 10 : 100,
};
const pinned = flags.unpinned !== true && which('taskset') !== undefined;
const serverPrefix = pinned ? ['taskset', '-c', '0'] : [];
// switchyard's HAProxy runs in a session of its own (the router starts it daemonized, so it outlives a
// killed router), and with the kernel's autogroup scheduling a session is scheduled as one group. The
// other proxies get the same treatment, so the comparison is between proxies, not scheduling groups.
const proxyPrefix = which('setsid') === undefined ? serverPrefix : ['setsid', ...serverPrefix];

const children: Child[] = [];
let edge: SwitchyardEdge | undefined;
let scratch = '';

async function cleanup(): Promise<void> {
  if (edge !== undefined) await stopSwitchyard(edge).catch(() => undefined);
  edge = undefined;
  for (const child of children.splice(0).reverse()) await (child.name === 'nginx' ? stopNginx(child) : stopChild(child)).catch(() => undefined);
  if (scratch !== '') await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void cleanup().finally(() => process.exit(130)));

async function main(): Promise<number> {
  const startedAt = new Date().toISOString();
  const haproxyPath = which('haproxy') ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : undefined);
  if (haproxyPath === undefined) {
    process.stderr.write('haproxy is not installed (apt-get install haproxy): nothing to measure.\n');
    return 1;
  }
  if (!existsSync(join(ROOT, 'dist', 'router', 'router.js'))) {
    process.stderr.write('dist/ is missing: run `npm run build` first.\n');
    return 1;
  }
  const notes: string[] = [];
  const loadAtStart = loadavg()[0]!;
  if (quick) notes.push('--quick: 1 s runs, one round. This checks that the benchmark runs; its figures are too noisy to quote.');
  if (!pinned) notes.push('Not pinned: servers and the load generator share both cores.');
  scratch = await mkdtemp(join(tmpdir(), 'sy-bench-hx-'));
  const wrk = which('wrk');
  // The proxy rows alternate the version header request by request, which takes wrk's Lua.
  if (wrk === undefined) throw new Error('bench:haproxy needs wrk (apt-get install wrk): its proxy rows alternate two versions by header with a wrk Lua script');
  const loadPrefix = pinned ? ['taskset', '-c', '1'] : [];
  const tool: LoadTool = wrkTool(wrk, commandOutput(wrk, ['-v'])?.split('\n')[0] ?? '?', scratch, loadPrefix);
  const alternating = alternatingWrk(wrk, scratch, loadPrefix);
  const load = (target: Target, durationS: number) =>
    target.versions.length > 1
      ? alternating({ url: target.url, header: HEADER, versions: target.versions, connections: S.connections, durationS })
      : tool.run({ url: target.url, headers: { [HEADER]: VERSION }, connections: S.connections, threads: 1, durationS });
  const nginxPath = which('nginx') ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined);

  log(`starting a backend per version (${VERSIONS.join(', ')}), switchyard with HAProxy, a hand-written HAProxy and nginx…`);
  const backends: VersionBackend[] = [];
  for (const version of VERSIONS) {
    const port = await freePort();
    const [node, ...nodeArgs] = [...serverPrefix, process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'router', 'servers.ts'), 'backend', String(port)];
    children.push(await spawnChild(`backend ${version}`, node!, nodeArgs, { cwd: ROOT, readyText: 'ready' }));
    backends.push({ version, port });
  }
  const backendPort = backends[0]!.port;
  edge = await startSwitchyard(join(scratch, 'sy'), { router: await freePort(), edge: await freePort() }, versionsPolicy(backends), serverPrefix);
  const resolvePath = `/v1/resolve?service=bench&version=${VERSION}`;
  const resolveBody = (await httpGet(`${edge.edgeUrl}${resolvePath}`)).body;
  const hand = { proxy: await freePort(), fixed: await freePort() };
  const handChild = await startHandWritten(join(scratch, 'hand'), haproxyPath, hand, backends, resolveBody, proxyPrefix);
  children.push(handChild);
  let nginxPorts: { proxy: number; fixed: number } | undefined;
  let nginxPid: number | undefined;
  if (nginxPath !== undefined) {
    nginxPorts = { proxy: await freePort(), fixed: await freePort() };
    const nginx = await startNginx({ nginxPath, dir: join(scratch, 'nginx'), proxyPort: nginxPorts.proxy, fixedPort: nginxPorts.fixed, backendPort, version: VERSION, fixedBody: resolveBody, prefix: proxyPrefix });
    children.push(nginx);
    nginxPid = nginx.pid;
  } else notes.push('nginx is not installed (apt-get install nginx): its rows are skipped.');

  const t = (key: string, label: string, url: string, body: string, pid?: number, versions = [VERSION]): Target => ({ key, label, url, body, rps: [], p99ms: [], errors: 0, cpuUs: [], versions, ...(pid === undefined ? {} : { pid }) });
  const haproxyPid = Number.parseInt(await readFile(join(edge.haproxyDir, 'haproxy.pid'), 'utf8'), 10);
  const all: Target[] = [
    t('haproxy', "switchyard's HAProxy (two versions by header)", `${edge.edgeUrl}/api/ping`, BACKEND_BODY_TEXT, haproxyPid, VERSIONS),
    t('hand', 'hand-written HAProxy config (two versions by header)', `http://127.0.0.1:${hand.proxy}/api/ping`, BACKEND_BODY_TEXT, handChild.pid, VERSIONS),
    t('builtin', 'built-in proxy (router, two versions by header)', `${edge.routerUrl}/api/ping`, BACKEND_BODY_TEXT, undefined, VERSIONS),
    t('node', 'bare node:http (one backend itself)', `http://127.0.0.1:${backendPort}/api/ping`, BACKEND_BODY_TEXT),
    t('resolve', 'resolve answered by HAProxy', `${edge.edgeUrl}${resolvePath}`, resolveBody, haproxyPid),
    t('handFixed', "HAProxy's own fixed answer (resolve's body)", `http://127.0.0.1:${hand.fixed}${resolvePath}`, resolveBody, handChild.pid),
    ...(nginxPorts === undefined ? [] : [
      t('nginxProxy', 'nginx proxy (map on version header, one version)', `http://127.0.0.1:${nginxPorts.proxy}/api/ping`, BACKEND_BODY_TEXT),
      t('nginxFixed', "nginx's fixed answer (resolve's body)", `http://127.0.0.1:${nginxPorts.fixed}${resolvePath}`, resolveBody, nginxPid),
    ]),
  ];
  const resolveKeys = new Set(['resolve', 'handFixed', 'nginxFixed']);
  const targets = onlyResolve ? all.filter((x) => resolveKeys.has(x.key)) : all;
  for (const target of targets) {
    for (const version of target.versions) {
      const answer = await httpGet(target.url, { [HEADER]: version });
      if (answer.status !== 200 || answer.body !== target.body) throw new Error(`${target.label} answered ${version} with ${answer.status} ${answer.body.slice(0, 200)} before the load`);
    }
  }
  // A cold backend (JIT, first connections) would handicap whichever target runs first.
  log('warm-up, 2 s per target…');
  for (const target of targets) await load(target, 2);
  for (let round = 1; round <= S.rounds; round++) {
    // Each round starts one target later, so no target always runs first.
    for (const target of [...targets.slice(round - 1), ...targets.slice(0, round - 1)]) {
      log(`round ${round}/${S.rounds}: ${target.label}, ${S.durationS} s…`);
      const cpuBefore = target.pid === undefined ? 0 : treeCpuMicros(target.pid);
      const r = await load(target, S.durationS);
      if (target.pid !== undefined) target.cpuUs.push((treeCpuMicros(target.pid) - cpuBefore) / r.requests);
      target.rps.push(r.rps);
      target.p99ms.push(r.p99ms);
      target.errors += r.socketErrors + r.non2xx;
    }
  }
  const by = (key: string) => targets.find((x) => x.key === key);
  const resolveRows: SummaryRow[] = [
    ratioRow('resolve answered by HAProxy vs nginx fixed answer', by('resolve')!, by('nginxFixed'), 0.8, 'nginx not installed'),
    ratioRow("resolve answered by HAProxy vs HAProxy's own fixed answer (its ceiling)", by('resolve')!, by('handFixed'), null),
    ratioRow("HAProxy's own fixed answer vs nginx fixed answer", by('handFixed')!, by('nginxFixed'), null, 'nginx not installed'),
    cpuRow('resolve answered by HAProxy vs nginx fixed answer, by server CPU per request', by('resolve')!, by('nginxFixed')),
    cpuRow("resolve answered by HAProxy vs HAProxy's own fixed answer, by server CPU per request", by('resolve')!, by('handFixed')),
  ];
  let prop = { p50: NaN, p99: NaN, max: NaN, missed: 0 };
  if (!onlyResolve) {
    log(`policy change → HAProxy routing by it, ${S.propagationWrites} writes…`);
    prop = await propagation(edge, backends, S.propagationWrites);
  }
  const rows: SummaryRow[] = onlyResolve ? resolveRows : [
    ratioRow("switchyard's HAProxy vs a hand-written HAProxy config (two versions by header)", by('haproxy')!, by('hand'), 0.95),
    cpuRow("switchyard's HAProxy vs a hand-written HAProxy config, by HAProxy CPU per request", by('haproxy')!, by('hand')),
    ratioRow("switchyard's HAProxy vs the built-in proxy", by('haproxy')!, by('builtin'), 1.5),
    ratioRow("switchyard's HAProxy vs nginx proxy", by('haproxy')!, by('nginxProxy'), null, 'nginx not installed'),
    ...resolveRows,
    ratioRow("bare node:http (Node's ceiling) vs switchyard's HAProxy", by('node')!, by('haproxy'), null),
    {
      figure: 'policy change → HAProxy routing by it (write to first routed request)',
      measured: `p99 ${fmt(prop.p99)} ms (p50 ${fmt(prop.p50)}, max ${fmt(prop.max)}; ${prop.missed} missed)`,
      comparison: '—', ratio: 'n/a', target: '≤ 50 ms p99',
      result: prop.p99 <= 50 && prop.missed === 0 ? 'met' : 'missed',
    },
  ];
  const errors = targets.reduce((n, x) => n + x.errors, 0);
  // On a shared machine the figures move with everyone else's load: say how busy it was.
  notes.push(`Load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end, on ${cpus().length} cores.`);
  if (errors > 0) notes.push(`${errors} load errors (socket errors or non-2xx answers) over all runs.`);
  const details = mdTable(['target', 'median req/s', 'runs (req/s)', 'median p99 (ms)', 'server CPU µs/request (runs)'], targets.map((x) => [x.label, fmtInt(median(x.rps)), x.rps.map(fmtInt).join(', '), fmt(median(x.p99ms)), x.cpuUs.length === 0 ? '—' : x.cpuUs.map((c) => fmt(c)).join(', ')]));
  const command = npmCommand('bench:haproxy');
  const json: BenchJson = {
    schema: 1, bench: 'haproxy', startedAt, finishedAt: new Date().toISOString(), command,
    settings: { durationS: S.durationS, rounds: S.rounds, connections: S.connections, pinned, haproxyThreads: 1, propagationWrites: S.propagationWrites, haproxy: commandOutput(haproxyPath, ['-v'])?.split('\n')[0] ?? '?' },
    rows, notes, others: null, details, data: { targets, propagation: prop }, ok: errors === 0 && prop.missed === 0,
  };
  const text = [
    `Run ${startedAt}, \`${command}\`; ${pinned ? `servers (a backend per version, router, both HAProxies, nginx) on CPU 0, wrk (1 thread, ${S.connections} connections) on CPU 1` : 'unpinned'}; proxy rows alternate versions ${VERSIONS.join(' and ')} by header from one request to the next; ${S.rounds} round(s) of ${S.durationS} s, medians; ${json.settings.haproxy}.`,
    '',
    mdTable(['figure', 'measured', 'compared with (same run)', 'ratio', 'target', 'result'], rows.map((r) => [r.figure, r.measured, r.comparison, r.ratio, r.target, r.result === 'skipped' ? `skipped: ${r.note}` : r.result])),
    '',
    details,
    ...(notes.length > 0 ? ['', ...notes.map((n) => `- ${n}`)] : []),
  ].join('\n');
  process.stdout.write(`${text}\n`);
  const out = await writeJson(flags.out ?? defaultJsonPath('haproxy', startedAt), json);
  log(`JSON: ${out}`);
  if (flags['write-docs']) {
    await replaceDocsBlock(DOCS, { begin: BEGIN, end: END, heading: 'HAProxy data plane' }, text);
    log(`wrote ${DOCS}`);
  }
  return json.ok ? 0 : 1;
}

runBench('bench:haproxy', main, cleanup);
