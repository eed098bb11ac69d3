/**
 * Poll `check` until it passes or `timeout` ms elapse, for state outside any event stream
 * (server-side counters, timer-driven sweeps, other processes). Throws naming `what`.
 */
export async function eventually(check: () => Promise<boolean> | boolean, timeout: number, what: string): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
