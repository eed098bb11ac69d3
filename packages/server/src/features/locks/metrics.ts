import type { LockReleaseReason } from '@switchboard/protocol';
import { Counter, type Registry } from 'prom-client';

/** Prometheus counters of the lock service. */
export interface LockMetrics {
  granted(): void;
  contended(): void;
  released(reason: LockReleaseReason): void;
}

export function lockMetrics(registry: Registry): LockMetrics {
  const grants = new Counter({ name: 'switchboard_lock_grants_total', help: 'Locks granted (new grants, not renewals)', registers: [registry] });
  const contentions = new Counter({
    name: 'switchboard_lock_contentions_total',
    help: 'Acquires that found the lock held by another holder',
    registers: [registry],
  });
  const releases = new Counter({
    name: 'switchboard_lock_releases_total',
    help: 'Locks released, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  return {
    granted: () => grants.inc(),
    contended: () => contentions.inc(),
    released: (reason) => releases.inc({ reason }),
  };
}
