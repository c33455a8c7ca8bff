import { steerCommand } from '../rollout-steer-command.js';

export const run = steerCommand('resume');
