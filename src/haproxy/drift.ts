import type { DataPlaneDrift } from '../protocol/status-body.js';
import type { Command } from './plan.js';

/**
 * Drift: HAProxy changed under switchyard after it had applied a
 * generation. A reload by someone else (SIGUSR2 to the master, a package
 * upgrade, config management), a map entry or a server changed through
 * the admin socket. The applier finds it by planning against what HAProxy
 * holds on every pass; this module puts what it found into words and
 * keeps the counts that status and /metrics show.
 */

const LISTED = 3;

function unescaped(arg: string): string {
  return arg.replace(/\\(.)/g, '$1');
}

/** What a planned command finds wrong, in words (running the command repairs it). */
export function finding(command: Command): string {
  const [verb, what, target, key] = command.text.split(/(?<!\\) /).map(unescaped);
  if (what === 'map') {
    const map = target?.slice(target.lastIndexOf('/') + 1);
    if (verb === 'add') return `${map} lacked ${key}`;
    if (verb === 'set') return `${map} held another value for ${key}`;
    return `${map} held ${key}, which the policy does not`;
  }
  if (verb === 'add') return `server ${target} was missing`;
  if (verb === 'set') return `server ${target} was not in state ${command.text.slice(command.text.lastIndexOf(' ') + 1)}`;
  return `server ${target} was left over`;
}

/** The drift a pass found, in one line; undefined when HAProxy held what was applied. */
export function describeDrift(notes: readonly string[], commands: readonly Command[]): string | undefined {
  const findings = [...notes, ...commands.filter((c) => c.progress !== true).map(finding)];
  if (findings.length === 0) return undefined;
  const more = findings.length - LISTED;
  return `${findings.slice(0, LISTED).join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}

/** Drift found and repaired since the router started, and the last one. */
export class DriftBook {
  private found = 0;
  private repaired = 0;
  private last: DataPlaneDrift['last'] = null;

  /** Drift not repaired yet: HAProxy is not in step. */
  get open(): boolean {
    return this.last !== null && this.last.repairedAt === null;
  }

  /** A pass found drift; while one is open, a second finding is the same episode (counted once). */
  foundNow(what: string, at: Date): void {
    if (this.open) return;
    this.found++;
    this.last = { at: at.toISOString(), what, repairedAt: null };
  }

  /** A pass ran every command it planned: HAProxy is in step again. */
  repairedNow(at: Date): boolean {
    if (!this.open) return false;
    this.repaired++;
    this.last = { ...this.last!, repairedAt: at.toISOString() };
    return true;
  }

  status(): DataPlaneDrift {
    return { found: this.found, repaired: this.repaired, last: this.last };
  }
}
