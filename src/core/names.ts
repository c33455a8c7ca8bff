import { usageError } from './errors.js';
import { printable } from './version.js';

/**
 * Names that end up in PM2 process names, file paths and remote command
 * lines are held to strict patterns, checked at the edge.
 */
export const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A host name or an IP address (v4 or bracket-less v6) that terminals are sent to. */
export const ADDRESS = /^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$/;

export function checkServiceName(input: unknown): string {
  if (typeof input !== 'string' || !SERVICE_NAME.test(input)) {
    const shown = typeof input === 'string' ? `"${printable(input)}"` : String(input);
    throw usageError('invalid_service', `${shown} is not a valid service name: use letters, digits, "-" and "_" (at most 64, starting with a letter or digit).`);
  }
  return input;
}

export function checkHostName(input: unknown): string {
  if (typeof input !== 'string' || !HOST_NAME.test(input)) {
    const shown = typeof input === 'string' ? `"${printable(input)}"` : String(input);
    throw usageError('invalid_host', `${shown} is not a valid host name: use letters, digits, ".", "-" and "_" (at most 64).`);
  }
  return input;
}

/**
 * PM2 process name and policy process id: `<service>@<version>#<index>`,
 * then `.<incarnation>` for every process switchyard starts, such as
 * `lobby@1.5.0#0.g42r7f3a9c` (claimed by policy generation 42, with a
 * random part). An incarnation is one start: its name is never reused for
 * another, so no command can delete a live process by mistaking it for one
 * it started. The random part is what a store cannot repeat: one that lost
 * its last commits (a failover, a restored backup) hands out generation 42
 * again, and the name must still differ. Ids without an incarnation
 * (hand-written policies) are still valid.
 */
export function processId(service: string, version: string, index: number, incarnation?: string): string {
  return `${service}@${version}#${index}${incarnation === undefined ? '' : `.${incarnation}`}`;
}

export const INCARNATION = /^[a-z0-9]{1,32}$/;

/** A new incarnation for a start claimed by `generation`: the generation, then a random part (`g42r7f3a9c`). */
export function newIncarnation(generation: number, random: string): string {
  return `g${generation}r${random.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 12)}`;
}

/**
 * The generation that claimed an incarnation, read from its name (`g42…`),
 * or undefined for a name without one. A running process whose name
 * carries a generation above the store's head proves the head went back.
 */
export function claimedGeneration(id: string): number | undefined {
  const match = /#\d{1,9}\.g(\d{1,9})(?:r[a-z0-9]*)?$/.exec(id);
  return match === null ? undefined : Number(match[1]);
}

export function parseProcessId(id: string): { service: string; version: string; index: number; incarnation: string | undefined } | null {
  const match = /^([^@#]+)@([^#]+)#(\d{1,9})(?:\.([a-z0-9]{1,32}))?$/.exec(id);
  if (match === null) return null;
  return { service: match[1]!, version: match[2]!, index: Number(match[3]), incarnation: match[4] };
}
