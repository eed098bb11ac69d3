import WebSocket from 'ws';
import { nowUs, sleep } from './proc.js';

/** Longest wait for one connect's answer: a connect that gets none counts as failed. */
const CONNECT_TIMEOUT_MS = 30_000;

/**
 * Open a socket, send `connect` with `token`, and resolve with whether it was accepted; the
 * socket is closed either way. No answer within the timeout, or a socket that closed first,
 * is a refusal.
 */
export function connectOnce(url: string, token: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const finish = (accepted: boolean) => {
      clearTimeout(timer);
      ws.removeAllListeners('message');
      ws.terminate();
      resolve(accepted);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, method: 'connect', params: { token } })));
    ws.on('message', (data: Buffer) => {
      // Several frames may share a message, one per line: the reply to `connect` carries id 1.
      for (const line of data.toString().split('\n')) {
        let frame: { id?: number; error?: unknown };
        try {
          frame = JSON.parse(line) as { id?: number; error?: unknown };
        } catch {
          continue;
        }
        if (frame.id === 1) return finish(frame.error === undefined);
      }
    });
    ws.on('error', () => finish(false));
    ws.on('close', () => finish(false));
  });
}

/** `good` (a valid token) with its signature replaced: a bad signature, different for every `i`. */
export function forgedToken(good: string, i: number): string {
  const [header, payload] = good.split('.');
  return `${header}.${payload}.${Buffer.from(`forged-${i}-${'x'.repeat(24)}`).toString('base64url')}`;
}

/** Connects with the good token over a window: accepted, refused, and the window's length. */
export interface GoodConnects {
  ok: number;
  failed: number;
  seconds: number;
}

export interface ForgedStormOptions {
  url: string;
  /** A valid token: its header and payload make the forged ones, and the good loops connect with it. */
  goodToken: string;
  /** Forged connects in all. */
  forged: number;
  /** Forged connects in flight at once. */
  concurrency: number;
  /** Loops of good-token connects, one connect at a time each, alone and during the storm. */
  goodLoops: number;
  /** How long the good loops run alone before the storm (the rate to compare with). */
  baselineMs: number;
  /** CLOCK_MONOTONIC µs after which no new connect starts. */
  deadlineUs: number;
  /** Called when the storm starts (after the baseline). */
  onStorm?: () => void;
}

export interface ForgedStormResult {
  /** Forged connects made (fewer than asked only when the deadline came first). */
  made: number;
  refused: number;
  /** Forged tokens the server accepted: 0 unless its signature check is broken. */
  accepted: number;
  stormSeconds: number;
  /** Unix ms at which the storm started and ended (for reading the audit entries it caused). */
  startedAt: number;
  endedAt: number;
  baseline: GoodConnects;
  during: GoodConnects;
}

/**
 * A connect storm of forged tokens (bad signatures, each token different, all from this
 * host's address) and, meanwhile, connects with a good token: first the good loops alone for
 * `baselineMs`, then the same loops during the storm, so the two rates compare. Every loop is
 * bounded by its count and by `deadlineUs`.
 */
export async function forgedStorm(o: ForgedStormOptions): Promise<ForgedStormResult> {
  let stop = false;
  const goodLoop = async (counter: GoodConnects) => {
    while (!stop && nowUs() < o.deadlineUs) (await connectOnce(o.url, o.goodToken)) ? counter.ok++ : counter.failed++;
  };
  const measureGood = async (until: Promise<unknown>): Promise<GoodConnects> => {
    const counter = { ok: 0, failed: 0, seconds: 0 };
    stop = false;
    const started = nowUs();
    const loops = Array.from({ length: o.goodLoops }, () => goodLoop(counter));
    await until;
    stop = true;
    await Promise.all(loops);
    counter.seconds = Math.max(1e-3, (nowUs() - started) / 1e6);
    return counter;
  };

  const baseline = await measureGood(sleep(Math.min(o.baselineMs, Math.max(0, (o.deadlineUs - nowUs()) / 1000))));
  o.onStorm?.();
  let next = 0;
  let refused = 0;
  let accepted = 0;
  const startedAt = Date.now();
  const stormStart = nowUs();
  const storm = Promise.all(
    Array.from({ length: Math.min(o.concurrency, o.forged) }, async () => {
      for (let i = next++; i < o.forged && nowUs() < o.deadlineUs; i = next++) (await connectOnce(o.url, forgedToken(o.goodToken, i))) ? accepted++ : refused++;
    }),
  );
  const during = await measureGood(storm);
  return {
    made: refused + accepted,
    refused,
    accepted,
    stormSeconds: Math.max(1e-3, (nowUs() - stormStart) / 1e6),
    startedAt,
    endedAt: Date.now(),
    baseline,
    during,
  };
}
