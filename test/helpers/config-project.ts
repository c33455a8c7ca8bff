import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isSwitchyardError, type SwitchyardError } from '../../src/core/errors.js';

/**
 * Temp project folders for config tests. Each test writes the files it
 * needs into a fresh folder, so cases never see each other's configs.
 */
const made: string[] = [];

export const YAML_FILE = 'switchyard.config.yaml';
export const LOBBY_YAML = 'services:\n  lobby:\n    script: releases/{version}/server.js\n    ports: 7500-7599\n';
export const LOBBY = { services: { lobby: { script: 'releases/{version}/server.js', ports: '7500-7599' } } };

/** A temp project folder holding `files` (paths may include subfolders). */
export async function project(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-config-'));
  made.push(dir);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

/** Removes every folder `project` made; for afterAll. */
export async function removeProjects(): Promise<void> {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** The SwitchyardError a promise rejects with (anything else fails the test). */
export async function failure(promise: Promise<unknown>): Promise<SwitchyardError> {
  try {
    await promise;
  } catch (error) {
    if (isSwitchyardError(error)) return error;
    throw error;
  }
  throw new Error('expected the promise to reject');
}
