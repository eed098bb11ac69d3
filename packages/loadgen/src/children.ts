import { type ChildProcess, fork } from 'node:child_process';
import type { WorkerReply, WorkerRequest } from './ipc.js';

/**
 * The processes this bench run started. They are stopped by their own pid only — at the
 * end of the run, on an error, on SIGINT / SIGTERM and when this process exits.
 */
export class ChildRegistry {
  readonly #pids = new Set<number>();
  readonly #onExit = () => this.killAll();

  constructor() {
    process.on('exit', this.#onExit);
  }

  add(pid: number | undefined): void {
    if (pid !== undefined) this.#pids.add(pid);
  }

  delete(pid: number | undefined): void {
    if (pid !== undefined) this.#pids.delete(pid);
  }

  killAll(): void {
    for (const pid of this.#pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.#pids.clear();
  }

  dispose(): void {
    this.killAll();
    process.off('exit', this.#onExit);
  }
}

interface Waiter {
  type: string;
  resolve: (msg: WorkerReply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** One worker process, driven over IPC: a request, then the reply of the expected type, within a deadline. */
export class WorkerPeer {
  readonly #waiters: Waiter[] = [];
  #exited = false;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    proc.on('message', (raw) => {
      const msg = raw as WorkerReply;
      const type = msg.type === 'failed' ? msg.replyTo : msg.type;
      const i = this.#waiters.findIndex((w) => w.type === type);
      const w = i === -1 ? undefined : this.#waiters.splice(i, 1)[0];
      if (!w) return;
      clearTimeout(w.timer);
      if (msg.type === 'failed') w.reject(new Error(`${name}: ${msg.message}`));
      else w.resolve(msg);
    });
    proc.on('exit', (code, signal) => {
      this.#exited = true;
      for (const w of this.#waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`${name} exited (${code ?? signal}) while waiting for "${w.type}"`));
      }
    });
  }

  /** Fork the compiled worker module; plain `node`, no loader of the parent's. */
  static fork(name: string, file: URL, registry: ChildRegistry): WorkerPeer {
    const proc = fork(file, [], { execArgv: [], serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    registry.add(proc.pid);
    proc.once('exit', () => registry.delete(proc.pid));
    return new WorkerPeer(name, proc);
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  request<T extends WorkerReply['type']>(msg: WorkerRequest, replyType: T, timeoutMs: number): Promise<Extract<WorkerReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (this.#exited || !this.proc.connected) {
        reject(new Error(`${this.name} is not running`));
        return;
      }
      const waiter: Waiter = {
        type: replyType,
        resolve: resolve as (msg: WorkerReply) => void,
        reject,
        timer: setTimeout(() => {
          const i = this.#waiters.indexOf(waiter);
          if (i !== -1) this.#waiters.splice(i, 1);
          reject(new Error(`${this.name}: no "${replyType}" within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
      this.proc.send(msg);
    });
  }

  /** Ask it to close its sockets, then end it by pid. */
  async stop(graceMs: number): Promise<void> {
    if (this.#exited) return;
    await this.request({ type: 'close' }, 'closed', graceMs).catch(() => {});
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.disconnect();
    const timer = setTimeout(() => this.kill(), 2000);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.#exited || this.proc.pid === undefined) return;
    try {
      process.kill(this.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
