import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { scheduleSweep } from '../sweep-job.js';
import { recordCommands } from './commands.js';
import { type RecordsConfig, recordsConfig, recordsNamespaceOption } from './config.js';
import { recordMetrics } from './metrics.js';
import { RECORD_MIGRATIONS } from './migrations.js';
import { type FieldLocks, Records, type RecordsApi } from './records.js';
import { recordRoutes } from './routes.js';
import { RecordStore } from './store.js';

export type { BeforeFieldWrite, FieldWrite, RecordsApi, WriteRequest as RecordWriteRequest } from './records.js';

/** The default namespace of records (forms): `form:42`. */
export const RECORDS_NAMESPACE = 'form';

/**
 * Records: plain-value fields on channels of the namespaces with the `records` option (`form`
 * by default), each field with the version of the write that last changed it, and writes made
 * on a base version decided per field by its policy (`lww`, `merge`, `manual`). Stored first,
 * then pushed on the record's channel. See docs/records.md. Its service is `RecordsApi`.
 */
export function recordsFeature(): FeatureModule<RecordsConfig, RecordsApi> {
  let running: Records | null = null;
  const records = (): Records => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'records are starting');
    return running;
  };

  return defineFeature({
    name: 'records',
    dependsOn: ['locks'],
    config: { schema: recordsConfig, description: 'records: plain-value fields with conflict policies' },
    namespaceOption: {
      schema: recordsNamespaceOption,
      description: 'the channels are records: true (policy merge), or an object with policy, per-field policies and types, and limits',
    },
    // Only the server publishes on a record's channel: what subscribers receive there is the stored record's changes.
    // Its fields may be locked (`field:<name>`), and a lock guards its field.
    namespaces: { [RECORDS_NAMESPACE]: { records: { policy: 'merge', lockedFields: true }, clientPublish: false, locks: true } },
    migrations: RECORD_MIGRATIONS,
    commands: recordCommands(records),
    routes: (config) => recordRoutes(records, config),
    hooks: {
      // The subscribe reply carries the record (`state.records`): the SDK's view needs no second round trip.
      async onSubscribeSnapshot({ channel }) {
        if (!running || channel.options['records'] === false || channel.options['records'] === undefined) return undefined;
        return { snapshot: await running.stateOf(channel) };
      },
    },
    async start(ctx) {
      const store = new RecordStore(ctx.storage, () => ctx.node.now());
      running = new Records(store, ctx.node, ctx.config, recordMetrics(ctx.node.metricsRegistry), ctx.feature<FieldLocks>('locks'));
      await scheduleSweep(ctx.jobs, ctx.logger, () => ctx.node.now(), {
        what: 'records idempotency sweep',
        every: () => ctx.config.sweepInterval,
        run: async () => ({ keys: await store.sweep(ctx.config.idempotencyTtl) }),
      });
      return running;
    },
    stop() {
      running = null;
    },
  });
}
