import { Client } from 'undici';
import { fmt, fmtInt, median, percentile, sleep, type SummaryRow } from '../util.js';
import { versionsPolicy, type SwitchyardEdge, type VersionBackend } from './setup.js';

/** The figures of bench:haproxy: its targets, the rows comparing them, and propagation of a policy write. */

/** The version header every proxy row routes by. */
export const HEADER = 'x-switchyard-version';

export interface Target {
  key: string;
  label: string;
  url: string;
  body: string;
  rps: number[];
  p99ms: number[];
  errors: number;
  /** The serving process (with its children): its CPU time per answered request is measured, µs per run. */
  pid?: number;
  cpuUs: number[];
  /** Versions the header alternates between (a proxy row); else every request carries the first. */
  versions: string[];
}

/** Policy writes alternating between two policies; for each, ms until HAProxy answers 1.2.0 as that policy says. */
export async function propagation(e: SwitchyardEdge, backends: VersionBackend[], writes: number): Promise<{ p50: number; p99: number; max: number; missed: number }> {
  const withNew = versionsPolicy(backends, [{ version: '1.2.0', port: backends[0]!.port }]);
  const without = versionsPolicy(backends);
  const client = new Client(e.edgeUrl);
  const times: number[] = [];
  let missed = 0;
  try {
    for (let i = 0; i < writes; i++) {
      const adding = i % 2 === 0;
      const started = performance.now();
      const written = await e.store.write(adding ? withNew : without, e.generation);
      e.generation = written.generation;
      const deadline = started + 5000;
      let seen = false;
      while (performance.now() < deadline) {
        const res = await client.request({ path: '/', method: 'GET', headers: { [HEADER]: '1.2.0' } });
        await res.body.dump();
        if ((res.statusCode === 200) === adding) {
          seen = true;
          break;
        }
        await sleep(1);
      }
      if (seen) times.push(performance.now() - started);
      else missed++;
    }
  } finally {
    await client.close();
  }
  return { p50: percentile(times, 50), p99: percentile(times, 99), max: Math.max(...times), missed };
}

export function ratioRow(figure: string, a: Target, b: Target | undefined, target: number | null, note?: string): SummaryRow {
  const ma = median(a.rps);
  if (b === undefined) return { figure, measured: `${fmtInt(ma)} req/s`, comparison: '—', ratio: 'n/a', target: '—', result: 'skipped', note: note ?? 'comparison not available' };
  const mb = median(b.rps);
  const ratio = ma / mb;
  return {
    figure,
    measured: `${fmtInt(ma)} req/s`,
    comparison: `${b.label}: ${fmtInt(mb)} req/s`,
    ratio: `${fmt(ratio)}×`,
    target: target === null ? '—' : `≥ ${target}×`,
    result: target === null ? 'info' : ratio >= target ? 'met' : 'missed',
  };
}

/** Less sensitive to a busy machine than throughput: the server CPU each answer costs (b's µs ÷ a's, so above 1 is a cheaper). */
export function cpuRow(figure: string, a: Target, b: Target | undefined): SummaryRow {
  const [ca, cb] = [median(a.cpuUs), median(b?.cpuUs ?? [])];
  const compared = b === undefined ? { comparison: '—', ratio: 'n/a', result: 'skipped' as const, note: 'comparison not available' } : { comparison: `${b.label}: ${fmt(cb)} µs/request`, ratio: `${fmt(cb / ca)}×`, result: 'info' as const };
  return { figure, measured: `${fmt(ca)} µs/request`, target: '—', ...compared };
}

