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
