/**
 * How big the reliability suite runs: SWITCHYARD_RELIABILITY_SIZE=small
 * (default: the whole suite in a few minutes on two cores, for CI) or large
 * (a one-off run of 15–20 minutes). Single figures can be overridden by the
 * variables named below, for runs larger still.
 */

export type SizeName = 'small' | 'large';

export interface ReliabilitySize {
  name: SizeName;
  /** Terminals holding sessions at once in the load tests. */
  sessions: number;
  /** Mean pause between two requests of one terminal (ms); each pause is 0.5–1.5 times this. */
  requestEveryMs: number;
  /** Session length range (ms). */
  sessionMs: [number, number];
  /** SIGKILLs of the router under load. */
  routerKills: number;
  /** Rounds of the four kinds of broken policy file. */
  brokenRounds: number;
  /** SIGKILLs of a busy policy writer. */
  writerKills: number;
  /** Concurrent writer processes × updates each. */
  writers: number;
  updatesPerWriter: number;
  /** Generated bad inputs per surface, and how many of them go through a spawned CLI. */
  httpInputs: number;
  configInputs: number;
  argvInputs: number;
  spawnedConfigs: number;
  spawnedArgvs: number;
}

const SIZES: Record<SizeName, ReliabilitySize> = {
  small: {
    name: 'small',
    sessions: 200,
    requestEveryMs: 700,
    sessionMs: [2000, 5000],
    routerKills: 2,
    brokenRounds: 1,
    writerKills: 300,
    writers: 8,
    updatesPerWriter: 50,
    httpInputs: 5000,
    configInputs: 3000,
    argvInputs: 2000,
    spawnedConfigs: 200,
    spawnedArgvs: 100,
  },
  large: {
    name: 'large',
    sessions: 400,
    requestEveryMs: 1200,
    sessionMs: [2000, 6000],
    routerKills: 5,
    brokenRounds: 3,
    writerKills: 2000,
    writers: 8,
    updatesPerWriter: 200,
    httpInputs: 25000,
    configInputs: 15000,
    argvInputs: 10000,
    spawnedConfigs: 500,
    spawnedArgvs: 300,
  },
};

/** Figures that may be overridden one by one: SWITCHYARD_RELIABILITY_<NAME> (e.g. _SESSIONS=800). */
const OVERRIDABLE: Array<keyof ReliabilitySize> = [
  'sessions', 'requestEveryMs', 'routerKills', 'brokenRounds', 'writerKills', 'writers', 'updatesPerWriter',
  'httpInputs', 'configInputs', 'argvInputs', 'spawnedConfigs', 'spawnedArgvs',
];

function envName(key: string): string {
  return `SWITCHYARD_RELIABILITY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export function reliabilitySize(env: NodeJS.ProcessEnv = process.env): ReliabilitySize {
  const wanted = (env.SWITCHYARD_RELIABILITY_SIZE ?? 'small').trim().toLowerCase();
  if (wanted !== 'small' && wanted !== 'large') {
    throw new Error(`SWITCHYARD_RELIABILITY_SIZE must be small or large, got ${JSON.stringify(wanted)}`);
  }
  const size: ReliabilitySize = { ...SIZES[wanted], sessionMs: [...SIZES[wanted].sessionMs] };
  for (const key of OVERRIDABLE) {
    const raw = env[envName(key)];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${envName(key)} must be a whole number above 0, got ${JSON.stringify(raw)}`);
    (size as unknown as Record<string, number>)[key] = n;
  }
  return size;
}

export const SIZE = reliabilitySize();
