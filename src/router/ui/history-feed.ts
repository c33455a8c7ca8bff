import { describeChange, diffPolicies } from '../../core/policy-diff.js';
import type { Policy } from '../../core/policy-schema.js';
import type { Store } from '../../store/store.js';

export interface RevisionLine {
  generation: number;
  updatedAt: string | null;
  changes: string[];
  broken?: string;
}

/**
 * The policy history for the web view: the newest `limit` revisions, each
 * with what changed from the one before. Revisions never change once
 * written, so each is read and diffed once; the list is read again only when
 * the policy's generation moves.
 */
export class HistoryFeed {
  private readonly lines = new Map<number, RevisionLine>();
  private readonly policies = new Map<number, Policy>();
  private listed: { head: number | null; lines: RevisionLine[] } | undefined;

  constructor(
    private readonly store: Pick<Store, 'history' | 'revision'>,
    private readonly limit = 20,
  ) {}

  async recent(head: number | null): Promise<RevisionLine[]> {
    if (this.listed?.head === head) return this.listed.lines;
    const entries = (await this.store.history()).slice(-(this.limit + 1));
    const out: RevisionLine[] = [];
    for (const [i, entry] of entries.entries()) {
      const known = this.lines.get(entry.generation);
      if (known !== undefined) {
        out.push(known);
        continue;
      }
      const line = await this.describe(entry.generation, entry.updatedAt ?? null, entry.broken, i === 0 ? undefined : entries[i - 1]!.generation);
      // A revision that could not be read may be mid-write: try it again next time.
      if (line.broken === undefined) this.lines.set(entry.generation, line);
      out.push(line);
    }
    const lines = out.slice(-this.limit).reverse();
    this.listed = { head, lines };
    return lines;
  }

  private async describe(generation: number, updatedAt: string | null, broken: string | undefined, before: number | undefined): Promise<RevisionLine> {
    if (broken !== undefined) return { generation, updatedAt, changes: [], broken };
    try {
      const policy = await this.read(generation);
      const previous = before === undefined ? null : await this.read(before).catch(() => null);
      return { generation, updatedAt, changes: diffPolicies(previous, policy).map(describeChange) };
    } catch (error) {
      return { generation, updatedAt, changes: [], broken: (error as Error).message };
    }
  }

  private async read(generation: number): Promise<Policy> {
    let policy = this.policies.get(generation);
    if (policy === undefined) {
      policy = await this.store.revision(generation);
      this.policies.set(generation, policy);
      // Only the newest revisions are ever diffed again.
      for (const g of this.policies.keys()) if (this.policies.size > this.limit + 2 && g < generation) this.policies.delete(g);
    }
    return policy;
  }
}
