import { type ChildProcess, fork } from 'node:child_process';

interface Waiter {
  type: string;
  resolve: (msg: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A child process this run started, driven over IPC: request/reply by message type,
 * with a deadline on every wait. Only ever killed by its own pid.
 */
export class Peer<Req extends { type: string }, Rep extends { type: string }> {
  readonly #waiters: Waiter[] = [];
  #exited = false;
  onMessage: ((msg: Rep) => void) | null = null;

  constructor(readonly name: string, readonly proc: ChildProcess) {
    proc.on('message', (raw) => {
      const msg = raw as Rep;
      const i = this.#waiters.findIndex((w) => w.type === msg.type);
      if (i !== -1) {
        const [w] = this.#waiters.splice(i, 1);
        clearTimeout(w!.timer);
        w!.resolve(msg);
      } else {
        this.onMessage?.(msg);
      }
    });
    proc.on('exit', (code, signal) => {
      this.#exited = true;
      for (const w of this.#waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`${name} exited (${code ?? signal}) while waiting for "${w.type}"`));
      }
    });
  }

  static fork<Req extends { type: string }, Rep extends { type: string }>(
    name: string, file: string, execArgv: string[], env: NodeJS.ProcessEnv = process.env,
  ): Peer<Req, Rep> {
    const proc = fork(file, [], { execArgv, env, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Peer<Req, Rep>(name, proc);
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Wait for the next message of `type` (without sending anything). */
  wait<T extends Rep['type']>(type: T, timeoutMs: number): Promise<Extract<Rep, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (this.#exited) {
        reject(new Error(`${this.name} has exited`));
        return;
      }
      const waiter: Waiter = {
        type,
        resolve: resolve as (msg: unknown) => void,
        reject,
        timer: setTimeout(() => {
          const i = this.#waiters.indexOf(waiter);
          if (i !== -1) this.#waiters.splice(i, 1);
          reject(new Error(`${this.name}: no "${type}" within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  request<T extends Rep['type']>(msg: Req, replyType: T, timeoutMs: number): Promise<Extract<Rep, { type: T }>> {
    const reply = this.wait(replyType, timeoutMs);
    this.proc.send(msg);
    return reply;
  }

  send(msg: Req): void {
    if (!this.#exited && this.proc.connected) this.proc.send(msg);
  }

  /** Wait for the process to exit; SIGKILL it (by pid) after `graceMs`. */
  async exit(graceMs: number): Promise<void> {
    if (this.#exited) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.kill();
        resolve();
      }, graceMs);
      this.proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
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
