import { describeRegression } from '../core/regression.js';
import type { StatusAlarm } from '../protocol/status-body.js';
import type { PolicySource } from './policy-source.js';
import type { RouterPorts } from './router-ports.js';

/**
 * What needs an operator, for `/v1/status` and `/metrics`: a policy store
 * that went back as this router's own source saw it, and what the host's
 * loops found (processes named by generations the store lost). One alarm
 * per kind.
 */
export function routerAlarms(watcher: PolicySource, ports: Pick<RouterPorts, 'alarms'>): () => StatusAlarm[] {
  return () => {
    const own = watcher.regression?.();
    const found = [...(own === undefined ? [] : [{ kind: 'policy_regressed' as const, message: describeRegression(own), highest: own.highest }]), ...(ports.alarms?.() ?? [])];
    return found.filter((a, i) => found.findIndex((b) => b.kind === a.kind) === i);
  };
}
