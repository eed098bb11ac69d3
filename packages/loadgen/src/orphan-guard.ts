/**
 * Loaded into the server that `switchboard bench` spawns (`node --import`): when the bench
 * process goes away — even by SIGKILL — the server's stdin pipe closes, and the server
 * shuts down instead of lingering.
 */
const stop = (): void => {
  process.kill(process.pid, 'SIGTERM');
};
process.stdin.once('end', stop);
process.stdin.once('error', stop);
process.stdin.resume();
