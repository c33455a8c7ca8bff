import { readFile, writeFile } from 'node:fs/promises';
import type { HeartbeatIngestResult, ResolveSizeResult } from './inprocess.js';
import type { LoadResult } from './load.js';
import type { HeartbeatHttpResult, PropagationResult } from './http.js';
import { fmt, fmtInt, type SummaryRow } from '../util.js';

/** What one run found, as written to the JSON file and rendered as Markdown. */

export interface TargetResult {
  key: string;
  label: string;
  url: string;
  /** Every run, in order (a disturbed run that was run again is kept here too). */
  runs: LoadResult[];
  /** Runs during which other processes used at most 10% of the machine. */
  cleanRuns: number;
  /** Medians over the undisturbed runs (over all runs when none was undisturbed). */
  rps: number;
  p50ms: number;
  p99ms: number;
  socketErrors: number;
  non2xx: number;
  skipped: string | null;
}

/** One summary line (the same shape every benchmark writes; see bench/util.ts). */
export type Row = SummaryRow;

export interface Results {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: Record<string, string>;
  settings: Record<string, string | number | boolean>;
  targets: TargetResult[];
  resolveSizes: ResolveSizeResult[];
  resolveHttp: Array<{ processes: number; runs: LoadResult[]; cleanRuns: number; rps: number; p50ms: number; p99ms: number }> | null;
  heartbeatInProcess: HeartbeatIngestResult | null;
  heartbeatHttp: HeartbeatHttpResult | null;
  propagation: PropagationResult | null;
  propagationLarge: PropagationResult | null;
  rows: Row[];
  notes: string[];
  /** False when something the benchmark checks for correctness failed (not a missed target). */
  ok: boolean;
}

export const BEGIN = '<!-- bench:router:begin (written by `npm run bench:router -- --write-docs`; edit outside these markers) -->';
export const END = '<!-- bench:router:end -->';

/** " [others 3%]": how much CPU processes outside the benchmark took during a run. */
function others(share: number | null | undefined): string {
  return share === undefined || share === null || !Number.isFinite(share) ? '' : ` [${(share * 100).toFixed(0)}%]`;
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export function summaryTable(r: Results): string {
  return table(
    ['figure', 'measured', 'comparison', 'ratio', 'target', 'result'],
    r.rows.map((row) => [row.figure, row.measured, row.comparison, row.ratio, row.target, row.result === 'met' || row.result === 'confirmed' ? `**${row.result}**` : row.result === 'missed' || row.result === 'not confirmed' || row.result === 'failed' ? `**${row.result.toUpperCase()}**` : row.result]),
  );
}

export function renderMarkdown(r: Results): string {
  const out: string[] = [];
  out.push(`Run ${r.startedAt} → ${r.finishedAt}.`, '');
  out.push('**Machine**', '');
  out.push(table(['', ''], Object.entries(r.machine).map(([k, v]) => [k, v])), '');
  out.push('**Command**', '', '```', r.command, '```', '');
  out.push(table(['setting', 'value'], Object.entries(r.settings).map(([k, v]) => [k, String(v)])), '');
  out.push('**Summary**', '', summaryTable(r), '');
  out.push(renderDetails(r));
  return out.join('\n');
}

/** The detail tables under the summary (also used by bench/all.ts under its combined table). */
export function renderDetails(r: Results): string {
  const out: string[] = [];
  if (r.targets.length > 0) {
    out.push("**HTTP load, per target** (medians over the undisturbed runs; then requests/s of every run in order, with [the share of the machine's CPU that processes outside the benchmark used during that run])", '');
    out.push(
      table(
        ['target', 'requests/s', 'p50 ms', 'p99 ms', 'rounds: req/s [others]', 'errors'],
        r.targets.map((t) =>
          t.skipped !== null
            ? [t.label, 'skipped', '', '', '', t.skipped]
            : [t.label, fmtInt(t.rps), fmt(t.p50ms), fmt(t.p99ms), t.runs.map((x) => `${fmtInt(x.rps)}${others(x.othersShare)}`).join(', '), t.socketErrors + t.non2xx === 0 ? '0' : `${t.socketErrors} socket, ${t.non2xx} non-2xx`],
        ),
      ),
      '',
    );
  }
  if (r.resolveSizes.length > 0) {
    out.push(`**Resolve cost against policy size, in-process** (ns per call, median of the rounds; "spread": lookups drawn over every served version; "hot": 5 versions; "core only": no Loads)${others(r.resolveSizes[0]?.othersShare)}`, '');
    out.push(
      table(
        ['processes', 'services', 'versions', 'resolveRequest spread', 'resolveRequest hot', 'resolveRequest core only', 'resolveLogin spread', 'index build ms'],
        r.resolveSizes.map((s) => [fmtInt(s.processes), String(s.services), fmtInt(s.versions), fmtInt(s.requestNs), fmtInt(s.requestHotNs), fmtInt(s.requestBareNs), fmtInt(s.loginNs), fmt(s.indexMs, 3)]),
      ),
      '',
    );
  }
  if (r.resolveHttp !== null) {
    out.push('**Resolve over HTTP against policy size** (GET /v1/resolve cycling over 1,000 drawn (service, version) pairs)', '');
    out.push(table(['processes', 'requests/s', 'p50 ms', 'p99 ms', 'rounds: req/s [others]'], r.resolveHttp.map((h) => [fmtInt(h.processes), fmtInt(h.rps), fmt(h.p50ms), fmt(h.p99ms), h.runs.map((x) => `${fmtInt(x.rps)}${others(x.othersShare)}`).join(', ')])), '');
  }
  const hb = r.heartbeatInProcess;
  if (hb !== null) {
    out.push(
      `**Heartbeats in-process**: ${fmtInt(hb.heartbeats)} heartbeats from ${fmtInt(hb.processes)} processes in ${fmt(hb.seconds, 2)} s = ${fmtInt(hb.rate)}/s (JSON.parse + parseHeartbeat + TallyBook.ingest); measured apart: parsing ${fmtInt(hb.parseRate)}/s, ingest ${fmtInt(hb.ingestRate)}/s. Tally exact: ${hb.tallyExact ? 'yes' : `NO (${hb.tallyProblem})`}.${others(hb.othersShare)}`,
      '',
    );
  }
  const hh = r.heartbeatHttp;
  if (hh !== null) {
    out.push(
      `**Heartbeats over HTTP** to the router: ${hh.clients} concurrent clients (undici, one keep-alive connection each, in the benchmark's own process), ${hh.processes} processes, ${fmt(hh.seconds, 1)} s: ${fmtInt(hh.accepted)} accepted of ${fmtInt(hh.sent)} sent = ${fmtInt(hh.rate)}/s, latency p50 ${fmt(hh.p50ms)} ms, p99 ${fmt(hh.p99ms)} ms. Tally in /v1/status exact: ${hh.tallyExact ? 'yes' : 'NO'}; accepted counter in /metrics exact: ${hh.counterExact ? 'yes' : 'NO'}.${hh.problem ? ` Problem: ${hh.problem}` : ''}${others(hh.othersShare)}`,
      '',
    );
  }
  for (const p of [r.propagation, r.propagationLarge]) {
    if (p === null) continue;
    out.push(
      `**Policy propagation, ${fmtInt(p.processes)}-process policy**, ${p.writes} writes: PolicyStore.write called → /healthz shows the generation p50 ${fmt(p.endToEnd.p50)} ms, p99 ${fmt(p.endToEnd.p99)} ms, max ${fmt(p.endToEnd.max)} ms; of which the write itself (history commit, fsync, rename) p50 ${fmt(p.write.p50)} ms, p99 ${fmt(p.write.p99)} ms; rename → served p50 ${fmt(p.afterRename.p50)} ms, p99 ${fmt(p.afterRename.p99)} ms.${p.missed > 0 ? ` ${p.missed} writes not seen in time.` : ''}${others(p.othersShare)}`,
      '',
    );
  }
  out.push("Figures in [brackets] are the share of the machine's CPU that processes outside the benchmark used meanwhile (from /proc). A load run above 10% is disturbed: it is run again (a few times per benchmark at most) and left out of the median when the target has an undisturbed run.", '');
  if (r.notes.length > 0) out.push('**Notes from the run**', '', ...r.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

const DOC_HEAD = `# Performance

How fast the router is, measured against a direct connection and against
nginx in one run. The block between the markers below is written by the
benchmark itself; the text around it explains the figures.

`;

/**
 * Replaces the router's generated block of docs/performance.md (or creates
 * the file). Returns false, writing nothing, when the file exists without
 * that block: it then holds the combined table of `npm run bench`, which one
 * benchmark alone must not mix with figures from another run.
 */
export async function writeDocs(path: string, r: Results): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    text = `${DOC_HEAD}${BEGIN}\n${END}\n`;
  }
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a === -1 || b < a) return false;
  const block = `${BEGIN}\n\n${renderMarkdown(r)}\n${END}`;
  await writeFile(path, `${text.slice(0, a)}${block}${text.slice(b + END.length)}`);
  return true;
}
