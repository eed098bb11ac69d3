import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import { RateLimited } from '../broker.js';

/**
 * The messages between an in-host engine (in a worker) and its host (in the primary), as
 * frame headers (frames.ts). Worker to host: `hello` first, then requests `{q, m, a}` and
 * answers to the host's questions `{a, v}`, and heartbeats `beat`. Host to worker: `welcome`, replies `{r, v}` or
 * `{r, x}` (an error), and pushes `{p, …}`. A publication's data travels as the frame body.
 */
export type WorkerFrame =
  | { h: 'hello'; node: string }
  /** A heartbeat: the host answers with one, so each side knows the other still reads. */
  | { h: 'beat' }
  | { q: number; m: string; a: unknown[] }
  /** The answer to a question (`ask`); no `v`: this worker has no answer. */
  | { a: number; v?: unknown };

export type HostFrame =
  | { h: 'welcome'; host: string }
  | { h: 'beat' }
  | { r: number; v?: unknown }
  | { r: number; x: WireError }
  /** A publication: `m` is the publication without its data (the body), passed on as is. */
  | { p: 'pub'; c: string; e: string; m: Record<string, unknown> }
  | { p: 'ev'; c: string; v: unknown }
  | { p: 'lost'; c: string; l: string }
  | { p: 'cmd'; v: unknown }
  | { p: 'note'; o: string; d: unknown; f: string }
  | { p: 'down'; n: string }
  /** A question to every worker: `channels` (its channel source) or `survey` (a survey handler). */
  | { p: 'ask'; q: number; k: 'channels' | 'survey'; v: unknown };

/** An error as it crosses: enough to rebuild the typed error the caller would get from the memory engine. */
export interface WireError {
  n: string;
  m: string;
  /** ReplyError: code, temporary, retryAfter. */
  c?: number;
  t?: boolean;
  ra?: number;
  /** RateLimited: bucket and milliseconds to wait. */
  b?: string;
  w?: number;
}

export function errorToWire(err: unknown): WireError {
  if (err instanceof ReplyError) {
    const wire: WireError = { n: 'ReplyError', m: err.message, c: err.code, t: err.temporary };
    if (err.retryAfter !== undefined) wire.ra = err.retryAfter;
    return wire;
  }
  if (err instanceof RateLimited) return { n: 'RateLimited', m: err.message, b: err.bucket, w: err.retryAfterMs };
  if (err instanceof Error) return { n: err.name, m: err.message };
  return { n: 'Error', m: String(err) };
}

export function errorFromWire(wire: WireError): Error {
  switch (wire.n) {
    case 'ReplyError': {
      // The message already holds the code's text and detail: keep it whole.
      const err = new ReplyError({ code: wire.c ?? ErrorCode.Internal.code, message: wire.m, temporary: wire.t ?? false }, undefined, wire.ra);
      return err;
    }
    case 'RateLimited':
      return new RateLimited(wire.b ?? '', wire.w ?? 1);
    case 'RangeError':
      return new RangeError(wire.m);
    case 'TypeError':
      return new TypeError(wire.m);
    default: {
      const err = new Error(wire.m);
      err.name = wire.n;
      return err;
    }
  }
}

/** What every call gets while the host cannot be reached: the engine's temporary 116, as from Redis being away. */
export function hostUnavailable(detail: string): ReplyError {
  return new ReplyError(ErrorCode.Unavailable, `in-host engine ${detail}`);
}

/** JSON has no Infinity: limits and waits of "no limit" travel as null. */
export const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);
export const infinite = (n: unknown): number => (typeof n === 'number' ? n : Number.POSITIVE_INFINITY);
