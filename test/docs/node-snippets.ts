import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './markdown.js';
import { track } from './started.js';

interface Answer {
  id: string;
  errors: string[];
}

/**
 * The parent side of snippet-runner.ts: one Node process for all snippets (a process per
 * snippet would cost most of a second each), replaced when a snippet does not finish in time.
 */
export class NodeSnippets {
  #child: ChildProcess | null = null;
  #ready: Promise<void> | null = null;
  #waiting = new Map<string, (answer: Answer) => void>();

  constructor(
    readonly cwd: string,
    readonly env: Record<string, string>,
  ) {}

  #start(): Promise<void> {
    // tsx as the repository has it (the runner's working directory is a scratch directory).
    const tsx = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const child = track(
      spawn(process.execPath, ['--import', tsx, join(ROOT, 'test', 'docs', 'snippet-runner.ts')], {
        cwd: this.cwd,
        env: this.env,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      }),
    );
    // What the snippets print is not the test's business; drain it.
    child.stdout?.resume();
    child.stderr?.resume();
    this.#child = child;
    return new Promise((resolve, reject) => {
      child.on('message', (answer: Answer) => {
        if (answer.id === 'ready') resolve();
        else this.#waiting.get(answer.id)?.(answer);
      });
      child.once('exit', (code) => {
        reject(new Error(`the snippet runner exited (${code}) before it was ready`));
        if (this.#child === child) {
          this.#child = null;
          this.#ready = null;
        }
        for (const [id, done] of this.#waiting) done({ id, errors: [`the snippet runner exited (${code})`] });
      });
    });
  }

  /** Run the module `file`; the errors it threw (none: it ran to its end within `timeout`). */
  async run(id: string, file: string, timeout: number): Promise<string[]> {
    this.#ready ??= this.#start();
    await this.#ready;
    const child = this.#child as ChildProcess;
    const answer = new Promise<Answer>((resolve) => this.#waiting.set(id, resolve));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Answer>((resolve) => {
      timer = setTimeout(() => resolve({ id, errors: [`did not finish within ${timeout} ms`] }), timeout);
    });
    child.send({ id, file });
    const result = await Promise.race([answer, late]);
    clearTimeout(timer);
    this.#waiting.delete(id);
    if (result.errors[0]?.startsWith('did not finish')) await this.close();
    return result.errors;
  }

  async close(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    this.#ready = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}
