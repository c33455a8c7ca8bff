/**
 * Names shared by the generated config, the planner and the observer:
 * the slot backends, the map files and how a runtime-API argument is
 * escaped. One place, so the config HAProxy reads and the commands sent
 * to it can never disagree.
 */

/** Version slots per service: a rollout needs two or three at once; the rest absorb retiring versions whose sessions have not closed yet. */
export const SLOTS_PER_SERVICE = 8;

/** HAProxy's description (`show info`) starts with this, then the fingerprint of the rules it was loaded with. */
export const RULES_MARK = 'switchyard rules';

/** How a HAProxy's version slots are laid out: the same in its config file and in its running state. */
export interface Layout {
  /** Slots per service. */
  slots: Map<string, number>;
  /** Slot backend → version. */
  bindings: Map<string, string>;
}

export const MAP_NAMES = ['route', 'only', 'resolve', 'nsvhead', 'nsvtail', 'svc', 'slot'] as const;
export type MapName = (typeof MAP_NAMES)[number];

/**
 * route:   "<service>|=<version>" or "<service>|~<match key>" → slot backend
 * only:    "<version>" → slot backend, for the only service's exact versions (the one-lookup fast path)
 * resolve: slot backend → the /v1/resolve body
 * nsvhead, nsvtail: service → the 404 body around the terminal's version
 * svc:     "*" → the only service (absent when there are several)
 * slot:    slot backend → the version it is bound to (kept while it has servers)
 */
export function mapFile(dir: string, name: MapName): string {
  return `${dir}/${name}.map`;
}

export function slotBackend(service: string, index: number): string {
  return `v_${service}_${index}`;
}

/** The service and index of a slot backend name, or undefined for any other backend. */
export function parseSlotBackend(name: string): { service: string; index: number } | undefined {
  const match = /^v_(.+)_(\d+)$/.exec(name);
  return match === null ? undefined : { service: match[1]!, index: Number(match[2]) };
}

export function routeKey(service: string, suffix: string): string {
  return `${service}|${suffix}`;
}

/** The runtime API splits on spaces and ";" and unescapes "\": escape all three. */
export function cliArg(value: string): string {
  return value.replace(/[\\ ;]/g, (c) => `\\${c}`);
}
