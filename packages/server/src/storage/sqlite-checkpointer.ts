import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SqliteDatabase from 'better-sqlite3';

/** How often the checkpointer copies the WAL's new pages into the database file (ms). */
export const CHECKPOINT_INTERVAL_MS = 25;
/** WAL pages (4 KiB each) left after a passive checkpoint above which it waits for writers to restart the WAL: 256 MiB. */
export const CHECKPOINT_RESTART_PAGES = 65_536;
/** The WAL file is cut back to this size when it starts over (bytes). */
export const WAL_SIZE_LIMIT = 64 * 1024 * 1024;

/**
 * The checkpointer's code (CommonJS, run with `eval`, so it needs no file of its own beside
 * the compiled one): its own connection to the file, a passive checkpoint every interval —
 * it copies committed WAL pages into the database file without blocking the node's writes —
 * and, when the WAL has grown past `restartPages` anyway (writes that never left it a moment
 * to finish), a RESTART checkpoint that waits up to a second for the writer.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('journal_size_limit = ' + workerData.sizeLimit);
let stopped = false;
let failures = 0;
function tick() {
  if (stopped) return;
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    if (r && r.log - r.checkpointed > workerData.restartPages) {
      db.pragma('busy_timeout = 1000');
      try { db.pragma('wal_checkpoint(RESTART)'); } finally { db.pragma('busy_timeout = 0'); }
    }
    failures = 0;
  } catch (err) {
    // SQLITE_BUSY: another checkpoint or the writer; the next tick tries again. Anything else is reported.
    if (!String(err && err.code).startsWith('SQLITE_BUSY') && ++failures === 3) parentPort.postMessage({ failed: String(err && err.message) });
  }
  setTimeout(tick, workerData.intervalMs);
}
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  stopped = true;
  try { db.close(); } finally { parentPort.postMessage({ stopped: true }); parentPort.close(); }
});
setTimeout(tick, workerData.intervalMs);
`;

/**
 * SQLite checkpoints off the event loop. In WAL mode each commit appends pages to the WAL,
 * and by default the commit that takes the WAL past 1,000 pages copies them all into the
 * database file and syncs it — on the node's one thread, inside that commit. Here the node's
 * connection never checkpoints (`wal_autocheckpoint = 0`); a worker thread with a connection
 * of its own does, every 25 ms, so the copying and the syncs use another core and the WAL
 * stays small (reads of a long WAL get slower). Should the worker fail, the node's
 * connection checkpoints as SQLite does by default again. At close the worker's connection
 * closes first, so the node's connection, closing last, checkpoints everything and removes
 * the WAL.
 */
export class SqliteCheckpointer {
  readonly #worker: Worker;
  readonly #db: SqliteDatabase.Database;
  #stopped: Promise<void> | null = null;
  #fallenBack = false;
  #exited = false;

  constructor(db: SqliteDatabase.Database, file: string, onFailure: (message: string) => void = () => {}) {
    this.#db = db;
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        module: createRequire(import.meta.url).resolve('better-sqlite3'),
        file,
        intervalMs: CHECKPOINT_INTERVAL_MS,
        restartPages: CHECKPOINT_RESTART_PAGES,
        sizeLimit: WAL_SIZE_LIMIT,
      },
    });
    // It must never keep the process alive on its own.
    this.#worker.unref();
    this.#worker.on('message', (m: { failed?: string }) => {
      if (m.failed === undefined) return;
      // Checkpoints that keep failing (a full disk, say): the node's connection takes them over.
      this.#fallBack();
      void this.#worker.terminate();
      onFailure(m.failed);
    });
    this.#worker.on('error', (err) => {
      this.#fallBack();
      onFailure(err.message);
    });
    this.#worker.on('exit', () => {
      this.#exited = true;
      this.#fallBack();
    });
  }

  /** Whether the node's own connection checkpoints again (the worker failed or stopped). */
  get fallenBack(): boolean {
    return this.#fallenBack;
  }

  #fallBack(): void {
    if (this.#fallenBack || this.#stopped) return;
    this.#fallenBack = true;
    if (this.#db.open) this.#db.pragma('wal_autocheckpoint = 1000');
  }

  /** End the worker as a crash would (tests: the node's connection must take the checkpoints over). */
  async crash(): Promise<void> {
    await this.#worker.terminate();
  }

  /** Close the worker's connection (before the node's: the last one to close checkpoints). */
  stop(): Promise<void> {
    if (this.#exited) this.#stopped ??= Promise.resolve();
    this.#stopped ??= new Promise<void>((resolve) => {
      // Held until it has closed: a process with nothing else to do must not end halfway
      // through closing its storage (the worker is unreferenced while it runs).
      this.#worker.ref();
      // A worker that does not answer (stuck in a checkpoint of a dead disk) is ended anyway.
      const timer = setTimeout(() => void this.#worker.terminate().then(done, done), 2000);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#worker.once('exit', done);
      this.#worker.on('message', (m: { stopped?: boolean }) => {
        if (m.stopped) void this.#worker.terminate().then(done, done);
      });
      this.#worker.postMessage('stop');
    });
    return this.#stopped;
  }
}
