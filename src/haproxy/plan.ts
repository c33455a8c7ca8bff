import type { Desired, DesiredServer } from './desired.js';
import { cliArg, MAP_NAMES, parseSlotBackend, routeKey, type Layout, type MapName } from './layout.js';

/**
 * The difference between what HAProxy holds (observed through its runtime
 * API) and what a policy generation wants, as runtime-API commands. Pure
 * and level-triggered: it trusts nothing from an earlier pass, so a lost
 * command, a restarted router or a half-applied pass is finished by the
 * next one.
 */

export type AdminState = 'ready' | 'drain' | 'maint';

export interface ObservedServer {
  backend: string;
  name: string;
  address: string;
  port: number;
  admin: AdminState;
  /** Open sessions (requests in flight, WebSocket tunnels). */
  sessions: number;
}

export interface Observed {
  /** The worker's pid: it changes with every reload and restart, whoever made it. */
  worker: number;
  /** The rules fingerprint in HAProxy's description (config-text.ts), if it has one. */
  rules: string | undefined;
  backends: Set<string>;
  servers: ObservedServer[];
  maps: Record<MapName, Map<string, string>>;
}

export interface Command {
  text: string;
  /** What a successful answer contains; by default a successful answer is empty. */
  ok?: string;
  /** Clean-up an earlier pass started (a server whose sessions are gone deleted, a slot freed): never a sign of drift. */
  progress?: true;
}

export interface Plan {
  commands: Command[];
  /** Set when the change cannot be made at run time: why a reload is needed. */
  reload?: string;
  /** Clean-up left for later passes: servers to delete once their sessions are gone, slots to free after. */
  waiting: number;
  /** The slots once the commands have run: what the config file on disk must hold. */
  layout: Layout;
}

export function emptyMaps(): Record<MapName, Map<string, string>> {
  return Object.fromEntries(MAP_NAMES.map((n) => [n, new Map<string, string>()])) as Record<MapName, Map<string, string>>;
}

/** The map contents a generation wants, once every served version has a slot. */
export function desiredMaps(desired: Desired, bindings: Map<string, string>): Record<MapName, Map<string, string>> {
  const maps = emptyMaps();
  const slotOf = new Map<string, string>();
  for (const [backend, version] of bindings) {
    const parsed = parseSlotBackend(backend);
    if (parsed !== undefined) slotOf.set(`${parsed.service}|${version}`, backend);
  }
  for (const svc of desired.services.values()) {
    for (const [suffix, version] of svc.routes) {
      const backend = slotOf.get(`${svc.name}|${version}`);
      if (backend === undefined) continue;
      maps.route.set(routeKey(svc.name, suffix), backend);
      if (desired.only === svc.name && suffix.startsWith('=')) maps.only.set(suffix.slice(1), backend);
    }
    for (const v of svc.versions.values()) {
      const backend = slotOf.get(`${svc.name}|${v.version}`);
      if (backend !== undefined) maps.resolve.set(backend, v.resolve);
    }
    maps.nsvhead.set(svc.name, svc.notServed.head);
    maps.nsvtail.set(svc.name, svc.notServed.tail);
  }
  if (desired.only !== undefined) maps.svc.set('*', desired.only);
  for (const [backend, version] of bindings) maps.slot.set(backend, version);
  return maps;
}

function slotsOf(backends: Set<string>, service: string): string[] {
  return [...backends]
    .map((b) => ({ b, parsed: parseSlotBackend(b) }))
    .filter((x) => x.parsed?.service === service)
    .sort((x, y) => x.parsed!.index - y.parsed!.index)
    .map((x) => x.b);
}

function mapCommands(file: string, have: Map<string, string>, want: Map<string, string>): { set: Command[]; del: Command[] } {
  const set: Command[] = [];
  const del: Command[] = [];
  for (const [key, value] of want) {
    const current = have.get(key);
    if (current === value) continue;
    set.push({ text: `${current === undefined ? 'add' : 'set'} map ${cliArg(file)} ${cliArg(key)} ${cliArg(value)}` });
  }
  for (const key of have.keys()) if (!want.has(key)) del.push({ text: `del map ${cliArg(file)} ${cliArg(key)}` });
  return { set, del };
}

/**
 * Commands in a safe order: slots bound and servers added or re-stated
 * first, then the maps that point at them, then what is no longer wanted
 * leaves the maps, and only after that do servers go to maintenance and,
 * once their sessions are gone, get deleted.
 */
export function planChanges(desired: Desired, observed: Observed, mapPath: (name: MapName) => string): Plan {
  const early: Command[] = [];
  const late: Command[] = [];
  let waiting = 0;
  const bindings = new Map<string, string>();
  const servers = new Map<string, ObservedServer[]>();
  for (const s of observed.servers) servers.set(s.backend, [...(servers.get(s.backend) ?? []), s]);
  const reloadFor = (why: string): Plan => ({ commands: [], reload: why, waiting: 0, layout: { slots: new Map(), bindings } });

  for (const svc of desired.services.values()) {
    const slots = slotsOf(observed.backends, svc.name);
    if (slots.length === 0) return reloadFor(`service ${svc.name} is new: HAProxy has no version slots for it`);
    const byVersion = new Map<string, string>();
    for (const b of slots) {
      const v = observed.maps.slot.get(b);
      if (v !== undefined) {
        bindings.set(b, v);
        byVersion.set(v, b);
      }
    }
    for (const version of svc.versions.keys()) {
      if (byVersion.has(version)) continue;
      const free = slots.find((b) => !bindings.has(b) && (servers.get(b) ?? []).length === 0);
      if (free === undefined) return reloadFor(`service ${svc.name} needs more than its ${slots.length} version slots at once`);
      bindings.set(free, version);
      byVersion.set(version, free);
    }
    for (const b of slots) {
      const version = bindings.get(b);
      const want: DesiredServer[] = version === undefined ? [] : (svc.versions.get(version)?.servers ?? []);
      const have = servers.get(b) ?? [];
      for (const s of want) {
        const seen = have.find((h) => h.name === s.name);
        if (seen === undefined) early.push({ text: `add server ${b}/${s.name} ${s.address}:${s.port}`, ok: 'New server registered' });
        if (seen?.admin !== s.state) early.push({ text: `set server ${b}/${s.name} state ${s.state}` });
      }
      for (const h of have) {
        if (want.some((s) => s.name === h.name)) continue;
        if (h.admin !== 'maint') {
          late.push({ text: `set server ${b}/${h.name} state maint` });
        } else if (h.sessions === 0) {
          late.push({ text: `del server ${b}/${h.name}`, ok: 'Server deleted', progress: true });
        }
        waiting++;
      }
      // A slot whose version is gone is freed once its last server has been deleted.
      if (version !== undefined && !svc.versions.has(version) && have.length === 0) bindings.delete(b);
      else if (version !== undefined && !svc.versions.has(version)) waiting++;
    }
  }
  // Slots of services the policy no longer has: treated as unbound.
  for (const b of observed.backends) {
    const parsed = parseSlotBackend(b);
    if (parsed === undefined || desired.services.has(parsed.service)) continue;
    for (const h of servers.get(b) ?? []) {
      if (h.admin !== 'maint') late.push({ text: `set server ${b}/${h.name} state maint` });
      else if (h.sessions === 0) late.push({ text: `del server ${b}/${h.name}`, ok: 'Server deleted', progress: true });
      waiting++;
    }
    if ((servers.get(b) ?? []).length > 0 && observed.maps.slot.has(b)) bindings.set(b, observed.maps.slot.get(b)!);
  }

  const want = desiredMaps(desired, bindings);
  const sets: Command[] = [];
  const dels: Command[] = [];
  for (const name of MAP_NAMES) {
    const { set, del } = mapCommands(mapPath(name), observed.maps[name], want[name]);
    // A slot is bound before anything points at it, and unbound last.
    if (name === 'slot') {
      early.unshift(...set);
      late.push(...del.map((c): Command => ({ ...c, progress: true })));
    } else {
      sets.push(...set);
      dels.push(...del);
    }
  }
  const slots = new Map<string, number>();
  for (const b of observed.backends) {
    const parsed = parseSlotBackend(b);
    if (parsed !== undefined && desired.services.has(parsed.service)) slots.set(parsed.service, (slots.get(parsed.service) ?? 0) + 1);
  }
  return { commands: [...early, ...sets, ...dels, ...late], waiting, layout: { slots, bindings } };
}
