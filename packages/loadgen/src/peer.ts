import { type ChildProcess, fork } from 'node:child_process';
import type { ChildRegistry } from './children.js';

interface Waiter {
  type: string;
  resolve: (msg: never) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** A reply saying that the request expecting reply `replyTo` failed. */
interface FailedReply {
  type: 'failed';
  replyTo: string;
  message: string;
}

const isFailure = (msg: { type: string }): msg is FailedReply => msg.type === 'failed' && 'replyTo' in msg;

export interface ForkOptions {
  /** Node flags of the child (none by default: plain `node`, no loader of the parent's). */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Its stdout: dropped by default (the bench CLI owns stdout), or shared. */
  stdout?: 'ignore' | 'inherit';
  /** Registered so that it is killed by its pid when the run ends or is interrupted. */
  registry?: ChildRegistry;
}

/**
 * A child process this run started, driven over IPC: a request, then the reply of the
 * expected type (or a `failed` reply naming it), within a deadline. Only ever killed by
 * its own pid.
 */
export class Peer<Req extends { type: string }, Rep extends { type: string }> {
  readonly #waiters: Waiter[] = [];
  #exited = false;
  /** Messages no request waits for (e.g. progress). */
  onMessage: ((msg: Rep) => void) | null = null;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    proc.on('message', (raw) => {
      const msg = raw as Rep;
      const type = isFailure(msg) ? msg.replyTo : msg.type;
      const i = this.#waiters.findIndex((w) => w.type === type);
      const w = i === -1 ? undefined : this.#waiters.splice(i, 1)[0];
      if (!w) {
        this.onMessage?.(msg);
        return;
      }
      clearTimeout(w.timer);
      if (isFailure(msg)) w.reject(new Error(`${name}: ${msg.message}`));
      else w.resolve(msg as never);
    });
    proc.on('exit', (code, signal) => {
      this.#exited = true;
      for (const w of this.#waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`${name} exited (${code ?? signal}) while waiting for "${w.type}"`));
      }
    });
  }

  static fork<Req extends { type: string }, Rep extends { type: string }>(name: string, file: string | URL, opts: ForkOptions = {}): Peer<Req, Rep> {
    const proc = fork(file, [], {
      execArgv: opts.execArgv ?? [],
      env: opts.env ?? process.env,
      serialization: 'advanced',
      stdio: ['ignore', opts.stdout ?? 'ignore', 'inherit', 'ipc'],
    });
    const { registry } = opts;
    if (registry) {
      registry.add(proc.pid);
      proc.once('exit', () => registry.delete(proc.pid));
    }
    return new Peer<Req, Rep>(name, proc);
  }

  /** Undefined only when the fork itself failed (then `exit` follows at once). */
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
        reject(new Error(`${this.name} is not running`));
        return;
      }
      const waiter: Waiter = {
        type,
        resolve: resolve as (msg: never) => void,
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
    if (!this.proc.connected) return Promise.reject(new Error(`${this.name} is not running`));
    const reply = this.wait(replyType, timeoutMs);
    this.proc.send(msg);
    return reply;
  }

  send(msg: Req): void {
    if (!this.#exited && this.proc.connected) this.proc.send(msg);
  }

  /** Ask it to close (`request`), then end it: IPC disconnected, SIGKILL by pid after 2 s. */
  async stop(request: Req, replyType: Rep['type'], graceMs: number): Promise<void> {
    if (this.#exited) return;
    await this.request(request, replyType, graceMs).catch(() => {});
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    if (this.proc.connected) this.proc.disconnect();
    const timer = setTimeout(() => this.kill(), 2000);
    await exited;
    clearTimeout(timer);
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
