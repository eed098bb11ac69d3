import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinMigrations, DocumentStore, migrateToLatest, Storage } from '@switchboard/server/testing';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { createTestDatabase, STORES } from '../../durable/helpers.js';

/**
 * documents_0003_snapshots on a database that holds documents of the shape before it (the
 * snapshot in the document row): each snapshot moves to its own table unchanged, the log
 * stays, the document loads as it was, and later writes and folds work on the new shape.
 */
describe.each(STORES)('moving document snapshots to their own table on %s', (store) => {
  it('keeps every document whole across the migration', async () => {
    const db = await createTestDatabase(store);
    const storage = Storage.open({ database: db.database, dataDir: mkdtempSync(join(tmpdir(), 'sb-snapmig-')) });
    try {
      const all = builtinMigrations();
      await migrateToLatest(
        storage,
        all.filter((m) => m.name !== 'documents_0003_snapshots'),
      );
      const doc = new Y.Doc();
      doc.getText('body').insert(0, 'folded before the upgrade;');
      const snapshot = Y.encodeStateAsUpdate(doc);
      const sv = Y.encodeStateVector(doc);
      doc.getText('body').insert(doc.getText('body').length, 'logged after;');
      const logged = Y.encodeStateAsUpdate(doc, sv);
      const bin = (u: Uint8Array) => Buffer.from(u);
      await sql`insert into sb_documents (tenant, channel, snapshot, snapshot_bytes, log_count, log_bytes, authors, created_at, updated_at, seq, snapshot_seq, compact_fence)
        values ('acme', 'doc:old', ${bin(snapshot)}, ${snapshot.byteLength}, 1, ${logged.byteLength}, '[]', 1, 1, 4, 3, 0)`.execute(storage.db);
      await sql`insert into sb_documents (tenant, channel, snapshot, snapshot_bytes, log_count, log_bytes, authors, created_at, updated_at, seq, snapshot_seq, compact_fence)
        values ('acme', 'doc:new', ${bin(new Uint8Array(0))}, 0, 0, 0, '[]', 1, 1, 0, 0, 0)`.execute(storage.db);
      await sql`insert into sb_document_updates (tenant, channel, id, data, created_at, seq) values ('acme', 'doc:old', 'u_0001', ${bin(logged)}, 1, 4)`.execute(
        storage.db,
      );

      const summary = await migrateToLatest(storage, all);
      expect(summary.applied).toEqual(['documents_0003_snapshots']);
      const docs = new DocumentStore(storage, () => Date.now());
      const old = await docs.load('acme', 'doc:old');
      expect(Buffer.from(old?.snapshot ?? [])).toEqual(Buffer.from(snapshot));
      expect(old?.seq).toBe(4);
      const loaded = new Y.Doc();
      for (const u of [old?.snapshot, ...(old?.updates ?? [])]) if (u && u.byteLength > 0) Y.applyUpdate(loaded, u);
      expect(loaded.getText('body').toString()).toBe('folded before the upgrade;logged after;');
      expect((await docs.load('acme', 'doc:new'))?.snapshot.byteLength).toBe(0);

      // Writes and a fold on the new shape.
      const sv2 = Y.encodeStateVector(loaded);
      loaded.getText('body').insert(0, '>');
      expect(await docs.append('acme', 'doc:old', [Y.encodeStateAsUpdate(loaded, sv2)])).toEqual({ from: 5, to: 5 });
      const fold = await docs.compact('acme', 'doc:old', { state: () => Y.encodeStateAsUpdate(loaded), upTo: 5 }, 1);
      expect(fold.folded).toBe(2);
      const after = await docs.load('acme', 'doc:old');
      expect(after?.updates).toEqual([]);
      const again = new Y.Doc();
      Y.applyUpdate(again, after?.snapshot as Uint8Array);
      expect(again.getText('body').toString()).toBe('>folded before the upgrade;logged after;');
    } finally {
      await storage.db.destroy();
      await db.drop();
    }
  });
});
