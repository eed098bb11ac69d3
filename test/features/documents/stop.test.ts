import { Writable } from 'node:stream';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { eventually } from '../../helpers/eventually.js';
import { type DocumentsServer, metric, startDocumentsServer, WAIT } from './helpers.js';

/**
 * A node that stops while one of its documents is being compacted, on PostgreSQL (another
 * transaction holds the snapshot table locked, so the compaction's last write waits on it
 * for real): the stop waits for the compaction before anything closes, so the log is folded
 * and nothing is lost.
 */
describe('stopping during a compaction on postgres', () => {
  let s: DocumentsServer;
  const lines: Array<Record<string, unknown>> = [];
  const logged = (msg: string) => lines.some((l) => String(l['msg']).startsWith(msg));

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    });
    s = await startDocumentsServer('postgres', {
      documents: { compactAfter: 10, compactInterval: '0s', groupCommit: 0 },
      logger: pino({ level: 'info' }, sink),
    });
  });
  afterAll(async () => {
    await s?.stop();
  });

  /** Hold the snapshot table locked (the compaction's write waits on it) until the returned function is called. */
  async function blockSnapshots(admin: pg.Client): Promise<() => Promise<void>> {
    await admin.query('BEGIN');
    await admin.query(`LOCK TABLE ${s.db.schema}.sb_document_snapshots IN ACCESS EXCLUSIVE MODE`);
    return () => admin.query('COMMIT').then(() => undefined);
  }

  /** Whether a transaction waits for a lock on the snapshot table (the compaction, held up). */
  async function compactionWaits(admin: pg.Client): Promise<boolean> {
    const { rows } = await admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace ns ON ns.oid = c.relnamespace
       WHERE ns.nspname = $1 AND c.relname = 'sb_document_snapshots' AND NOT l.granted`,
      [s.db.schema],
    );
    return Number(rows[0]?.n) > 0;
  }

  it('waits for a compaction in flight before the storage closes: the log is folded into the snapshot and every update is there after a restart', async () => {
    const name = 'doc:stop-1';
    const admin = await s.admin();
    try {
      const release = await blockSnapshots(admin);
      // Ten updates, each written on its own (answered once stored): the tenth makes the log worth folding (a later one would wait on the compaction).
      const local = new Y.Doc();
      const text = local.getText('body');
      for (let i = 0; i < 10; i++) {
        let update: Uint8Array = new Uint8Array(0);
        local.once('update', (u: Uint8Array) => {
          update = u;
        });
        text.insert(text.length, `u${i};`);
        const res = await s.api('POST', `/documents/${name}/updates`, { body: { update: Buffer.from(update).toString('base64') } });
        expect(res.status).toBe(200);
      }
      const expected = text.toString();
      await eventually(() => compactionWaits(admin), WAIT, 'the compaction waiting on the snapshot table');
      expect(await metric(s, 'switchboard_document_compactions_total')).toBe(0);

      let closed = false;
      const closing = s.current.close().then(() => {
        closed = true;
      });
      // The stop says it waits for the compaction (without it the close goes on to the storage, and this never comes).
      await eventually(() => logged('stopping: waiting for the document compactions in flight') || closed, WAIT, 'the stop waiting for the compaction');
      expect(closed).toBe(false);
      expect(await compactionWaits(admin)).toBe(true);
      await release();
      await closing;

      expect(logged('compacting a document failed')).toBe(false);
      expect(logged('stopping without the document compactions')).toBe(false);
      const log = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${s.db.schema}.sb_document_updates WHERE channel = $1`, [name]);
      expect(Number(log.rows[0]?.n)).toBe(0);
      const snapshot = await admin.query(`SELECT 1 FROM ${s.db.schema}.sb_document_snapshots WHERE channel = $1`, [name]);
      expect(snapshot.rowCount).toBe(1);

      await s.restart();
      const res = await s.api('GET', `/documents/${name}`);
      expect((res.body['json'] as Record<string, unknown>)['body']).toBe(expected);
    } finally {
      await admin.end();
    }
  });
});
