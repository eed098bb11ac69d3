import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../../test/helpers/eventually.js';
import { SQLITE_FILE, Storage } from '../../src/storage/storage.js';

/**
 * SQLite checkpoints run in a worker thread: the node's connection never copies the WAL into
 * the database file itself (`wal_autocheckpoint = 0`), yet the file receives every page, and
 * closing leaves no WAL behind. Should the worker die, the node's
 * connection checkpoints again.
 */

const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
const pragma = async (storage: Storage, name: string) => Object.values((await sql.raw(`pragma ${name}`).execute(storage.db)).rows[0] as object)[0];

describe('SQLite checkpoints off the event loop', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function filled(): Promise<{ storage: Storage; file: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'sb-ckpt-'));
    dirs.push(dir);
    const storage = Storage.open({ database: '', dataDir: dir });
    await sql`create table t (id integer primary key, v blob)`.execute(storage.db);
    return { storage, file: join(dir, SQLITE_FILE) };
  }
  /** 40 MB in 200 transactions of 50 rows of 4 KB. */
  async function write(storage: Storage): Promise<void> {
    const row = Buffer.alloc(4000, 7);
    for (let t = 0; t < 200; t++)
      await storage.transaction(async (trx) => {
        for (let i = 0; i < 50; i++) await sql`insert into t (v) values (${row})`.execute(trx);
      });
  }

  it('copies the WAL into the database file from its own thread, and leaves no WAL at close', async () => {
    const { storage, file } = await filled();
    expect(await pragma(storage, 'wal_autocheckpoint')).toBe(0);
    await write(storage);
    // The node's connection never checkpointed: every page in the file got there through the worker.
    await eventually(() => size(file) > 38_000_000, 10_000, 'the 40 MB in the database file');
    expect(storage.checkpointer?.fallenBack).toBe(false);
    await storage.close();
    expect(size(`${file}-wal`)).toBe(0);
    const again = Storage.open({ database: '', dataDir: join(file, '..') });
    expect(Number(await pragma(again, 'page_count'))).toBeGreaterThan(9000);
    expect((await sql<{ n: number }>`select count(*) as n from t`.execute(again.db)).rows[0]?.n).toBe(10_000);
    await again.close();
  });

  it('holds the process until the close is done, when closing is all it has left to do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-ckpt-exit-'));
    dirs.push(dir);
    // The process never calls process.exit: it ends when nothing holds the event loop.
    const script = `
      import { Storage } from '@switchboard/server/testing';
      import { sql } from 'kysely';
      const storage = Storage.open({ database: '', dataDir: ${JSON.stringify(dir)} });
      await sql\`create table t (v text)\`.execute(storage.db);
      await sql\`insert into t (v) values ('kept')\`.execute(storage.db);
      await storage.close();
      process.stdout.write('closed\\n');
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '..', '..', '..', '..'),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.stdout + child.stderr).toContain('closed');
    expect(child.status).toBe(0);
    expect(size(join(dir, `${SQLITE_FILE}-wal`))).toBe(0);
  });

  it('hands the checkpoints back to the node’s connection when the worker dies', async () => {
    const { storage, file } = await filled();
    await storage.checkpointer?.crash();
    await eventually(() => storage.checkpointer?.fallenBack === true, 5000, 'the fallback');
    expect(await pragma(storage, 'wal_autocheckpoint')).toBe(1000);
    await write(storage);
    // SQLite's own checkpoints (every 1,000 pages) moved the pages into the file.
    expect(size(file)).toBeGreaterThan(30_000_000);
    await storage.close();
  });
});
