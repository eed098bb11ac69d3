import { Counter, type Registry } from 'prom-client';

/** How a record write ended. */
export type WriteOutcome = 'applied' | 'conflict' | 'refused' | 'deduplicated';

/** Prometheus counters of records. */
export interface RecordMetrics {
  write(outcome: WriteOutcome): void;
  overwritten(n: number): void;
}

export function recordMetrics(registry: Registry): RecordMetrics {
  const writes = new Counter({
    name: 'switchboard_record_writes_total',
    help: 'Record writes, by outcome (applied, conflict: refused by a policy, refused: bad input, a limit or a hook, deduplicated)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const overwritten = new Counter({
    name: 'switchboard_record_overwrites_total',
    help: "Values of other writers replaced unseen by lww writes (each told to its writer as 'overwritten')",
    registers: [registry],
  });
  return {
    write: (outcome) => writes.inc({ outcome }),
    overwritten: (n) => {
      if (n > 0) overwritten.inc(n);
    },
  };
}
