import { compareVersionsDesc } from './version.js';

/** One row of the patent's vector: terminals of one terminal version and their share. */
export interface TallyEntry {
  version: string;
  terminals: number;
  share: number;
}

/** Largest count first; ties by version, newest first. Shares rounded to 4 decimals. */
export function sortTally(counts: ReadonlyMap<string, number>): TallyEntry[] {
  let total = 0;
  for (const n of counts.values()) total += n;
  const entries = [...counts].map(([version, terminals]) => ({
    version,
    terminals,
    share: total === 0 ? 0 : Math.round((terminals / total) * 10_000) / 10_000,
  }));
  return entries.sort((a, b) => b.terminals - a.terminals || compareVersionsDesc(a.version, b.version) || (a.version < b.version ? -1 : 1));
}
