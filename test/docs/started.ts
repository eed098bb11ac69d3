import type { ChildProcess } from 'node:child_process';

/**
 * Every process the doc blocks start: child processes, and shell blocks as process groups
 * (bash and every server it starts in the background share the group). A block stops its
 * own; `killStarted` ends what is left when a run ends early (a timeout, a failure between
 * start and stop, a block still going when the run ends), so no server outlives the test run.
 */
const children = new Set<ChildProcess>();
const groups = new Set<number>();
/** After `killStarted`: a block still queued must not start anything that would outlive the run. */
let ended = false;

/** Remember `child` until it exits. */
export function track<T extends ChildProcess>(child: T): T {
  if (ended) child.kill('SIGKILL');
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Remember the process group led by `pid` (a child spawned with `detached: true`) until `untrackGroup`. */
export function trackGroup(pid: number): void {
  if (ended) kill(-pid);
  groups.add(pid);
}

/** The group's processes were stopped by the block itself. */
export function untrackGroup(pid: number): void {
  groups.delete(pid);
}

/** SIGKILL every tracked process and process group still alive, and any started later; the pids it killed (a group as -pid). */
export function killStarted(): number[] {
  ended = true;
  const killed: number[] = [];
  for (const pid of groups) if (kill(-pid)) killed.push(-pid);
  groups.clear();
  for (const child of children) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null && kill(child.pid)) killed.push(child.pid);
  children.clear();
  return killed;
}

function kill(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
