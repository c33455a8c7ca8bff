import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ServiceConfig } from '../config/schema.js';
import { parseDuration } from '../core/duration.js';
import { usageError } from '../core/errors.js';
import { parseInlineSteps, type RolloutStep } from '../core/rollout-plan.js';
import { DEFAULT_PARALLEL } from '../ops/parallel.js';
import type { Role } from '../ops/roles.js';

/** deploy's flags, checked before anything is read or started. */
export interface DeployOptions {
  role: Role;
  timeoutMs: number | undefined;
  parallel: number;
  syncFrom: string | undefined;
  allowPartial: boolean;
  wait: boolean;
  dryRun: boolean;
  /** --port: the ports to use, one per process (instances × hosts, in host order). */
  ports: number[] | undefined;
  /** --steps: an inline plan, 'configured' (the flag without a value), or undefined (no rollout). */
  steps: RolloutStep[] | 'configured' | undefined;
}

/** --steps [plan]: checked here, before anything is read or started; a bad plan names its step (exit 2). */
function stepsOption(options: Record<string, unknown>): DeployOptions['steps'] {
  const value = options.steps;
  if (value === undefined || value === false) return undefined;
  if (options.canary !== undefined || options.promote === false) {
    throw usageError('steps_conflict', `--steps runs a plan of canary weights itself: leave out ${options.canary !== undefined ? '--canary' : '--no-promote'}.`);
  }
  return value === true ? 'configured' : parseInlineSteps(String(value));
}

/** The plan `deploy --steps` runs: the inline one, or the service's configured one. */
export function rolloutSteps(steps: RolloutStep[] | 'configured', service: ServiceConfig): RolloutStep[] {
  if (steps !== 'configured') return steps;
  if (service.rollout.steps === undefined) {
    throw usageError('no_plan', `services.${service.name}.rollout.steps is not set in the config, so --steps has no plan to run: give one inline, like --steps 10:2m,50:5m,100, or configure one.`, { service: service.name });
  }
  return service.rollout.steps;
}

function canaryWeight(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const weight = Number(value);
  if (!/^\d+(\.\d+)?$/.test(String(value)) || weight <= 0 || weight > 100) {
    throw usageError('invalid_canary', `--canary takes a percentage above 0 and at most 100, like 10; got ${JSON.stringify(value)}.`);
  }
  return weight;
}

function parallelLimit(value: unknown): number {
  if (value === undefined) return DEFAULT_PARALLEL;
  if (!/^\d{1,4}$/.test(String(value)) || Number(value) < 1 || Number(value) > 1000) {
    throw usageError('invalid_parallel', `--parallel takes how many hosts to work on at once, a whole number from 1 to 1000; got ${JSON.stringify(value)}.`);
  }
  return Number(value);
}

/** The local folder --sync copies from: it must exist and be a folder. */
function syncSource(cwd: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const from = resolve(cwd, String(value));
  let isDir = false;
  try {
    isDir = statSync(from).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw usageError('invalid_sync', `--sync takes the folder holding the version's release on this machine; ${from} is not a folder.`);
  return from;
}

/** --port 7600, or 7600,7601 for several processes: one port each, in host order. */
export function portList(value: unknown, service: ServiceConfig, hosts: readonly string[]): number[] | undefined {
  if (value === undefined) return undefined;
  const parts = String(value).split(',').map((s) => s.trim());
  const ports = parts.map(Number);
  if (parts.some((s) => !/^\d{1,5}$/.test(s)) || ports.some((p) => p < 1 || p > 65535) || new Set(ports).size !== ports.length) {
    throw usageError('invalid_port', `--port takes a port from 1 to 65535, or a comma-separated list of different ports; got ${JSON.stringify(value)}.`);
  }
  const wanted = service.instances * hosts.length;
  if (ports.length !== wanted) {
    throw usageError('invalid_port', `--port names ${ports.length} port${ports.length === 1 ? '' : 's'}, but ${service.name} starts ${wanted} process${wanted === 1 ? '' : 'es'} (${service.instances} instance${service.instances === 1 ? '' : 's'} on ${hosts.join(', ')}): give one port per process, comma-separated, in host order.`);
  }
  return ports;
}

export function deployOptions(cwd: string, options: Record<string, unknown>): DeployOptions {
  const weight = canaryWeight(options.canary);
  const role: Role = weight !== undefined ? { kind: 'canary', weight } : options.promote === false ? { kind: 'active' } : { kind: 'target' };
  return {
    role,
    timeoutMs: options.timeout === undefined ? undefined : parseDuration(String(options.timeout), '--timeout'),
    parallel: parallelLimit(options.parallel),
    syncFrom: syncSource(cwd, options.sync),
    allowPartial: options.allowPartial === true,
    wait: options.wait === true,
    dryRun: options.dryRun === true,
    ports: undefined,
    steps: stepsOption(options),
  };
}
