import type { Policy } from '../../core/policy-schema.js';
import type { TallyBook } from '../../core/tally.js';

export interface Series {
  /** Sample times, milliseconds since the epoch. */
  t: number[];
  /** Terminals per terminal version at each sample (0 where a version had none). */
  versions: Record<string, number[]>;
}

/**
 * The tally over the last minutes, for the web view's chart: a sample of
 * every service's tally each `everyMs`, the last `keepMs` kept. The timer is
 * unref'd: it never keeps the router alive.
 */
export class TallySeries {
  private readonly samples: Array<{ t: number; counts: Map<string, Map<string, number>> }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: { policy(): Policy | undefined; tallies: TallyBook; now(): number },
    private readonly everyMs = 1000,
    private readonly keepMs = 10 * 60_000,
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  sample(): void {
    const now = this.source.now();
    const counts = new Map<string, Map<string, number>>();
    for (const service of Object.keys(this.source.policy()?.services ?? {})) {
      counts.set(service, new Map(this.source.tallies.tally(service, now).map((e) => [e.version, e.terminals])));
    }
    this.samples.push({ t: now, counts });
    while (this.samples.length > 0 && this.samples[0]!.t < now - this.keepMs) this.samples.shift();
  }

  /** Per service, the samples as columns (uPlot's data layout). */
  series(): Record<string, Series> {
    const out: Record<string, Series> = {};
    const services = new Set(this.samples.flatMap((s) => [...s.counts.keys()]));
    for (const service of services) {
      const versions = new Set(this.samples.flatMap((s) => [...(s.counts.get(service)?.keys() ?? [])]));
      const series: Series = { t: this.samples.map((s) => s.t), versions: {} };
      for (const version of versions) series.versions[version] = this.samples.map((s) => s.counts.get(service)?.get(version) ?? 0);
      out[service] = series;
    }
    return out;
  }
}
