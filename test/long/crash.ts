/**
 * Crash durability: kill -9 the server at random instants while notifications are being
 * written to SQLite, restart it on the same data directory, again and again. Every write
 * that was acknowledged (HTTP 201) must be there at the end, and
 * `PRAGMA integrity_check` must say ok.
 *
 * Short variant in the test run (test/crash.test.ts). The long run (1,000 kills):
 *   npx tsx test/long/crash.ts --kills 1000
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crashMain, kill9, startServerProcess, stopAndCheck } from './server-process.js';

export interface CrashResult {
  kills: number;
  acknowledged: number;
  present: number;
  missing: string[];
  integrity: string;
  durationMs: number;
}

export async function runCrash(options: { kills: number; maxLifeMs: number; onProgress?(n: number, acked: number): void }): Promise<CrashResult> {
  const started = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-crash-'));
  const secret = randomBytes(32).toString('base64url');
  const acknowledged = new Set<string>();
  let seq = 0;
  for (let k = 0; k < options.kills; k++) {
    const s = await startServerProcess(dataDir, secret);
    let alive = true;
    const writers = Array.from({ length: 4 }, async () => {
      while (alive) {
        const n = seq++;
        try {
          const res = await fetch(`${s.http}/api/v1/notifications`, {
            method: 'POST',
            headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'crash', 'content-type': 'application/json', 'idempotency-key': `w-${n}` },
            body: JSON.stringify({ user: `u${n % 7}`, type: 'alert', title: `write ${n}` }),
          });
          if (res.status === 201) for (const item of ((await res.json()) as { notifications: Array<{ id: string }> }).notifications) acknowledged.add(item.id);
        } catch {
          // The server died mid-request: not acknowledged, so nothing is owed.
        }
      }
    });
    // A random lifetime: when the kill -9 lands is what the run varies, not a wait for a condition.
    await new Promise((r) => setTimeout(r, Math.random() * options.maxLifeMs));
    await kill9(s.child);
    alive = false;
    await Promise.all(writers);
    options.onProgress?.(k + 1, acknowledged.size);
  }
  // Read everything back through the API of a fresh start, then check the file itself.
  const s = await startServerProcess(dataDir, secret);
  const present = new Set<string>();
  for (let u = 0; u < 7; u++) {
    let cursor: string | undefined;
    do {
      const q = new URLSearchParams({ user: `u${u}`, limit: '100', ...(cursor ? { cursor } : {}) });
      const res = await fetch(`${s.http}/api/v1/notifications?${q}`, { headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'crash' } });
      const page = (await res.json()) as { notifications: Array<{ id: string }>; nextCursor: string | null };
      for (const n of page.notifications) present.add(n.id);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }
  const integrity = await stopAndCheck(s, dataDir);
  const missing = [...acknowledged].filter((id) => !present.has(id));
  return { kills: options.kills, acknowledged: acknowledged.size, present: present.size, missing, integrity, durationMs: Date.now() - started };
}

if (import.meta.url === `file://${process.argv[1]}`) await crashMain({ kills: '1000', maxLife: '400' }, runCrash);
