import type { ServerFrame } from './frames.js';

/** Frames inside one WebSocket message are separated by this byte. */
export const FRAME_SEPARATOR = '\n';

/** Encode one frame. JSON never contains a raw newline, so frames can be joined by "\n". */
export function encodeFrame(frame: object): string {
  return JSON.stringify(frame);
}

/** Encode several frames into the text of one WebSocket message. */
export function encodeFrames(frames: readonly object[]): string {
  return frames.map(encodeFrame).join(FRAME_SEPARATOR);
}

/**
 * Split a WebSocket message into frame texts. Empty lines are skipped.
 * Parsing and validation are the receiver's job.
 */
export function splitFrames(message: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const end = message.indexOf(FRAME_SEPARATOR, start);
    const part = end === -1 ? message.slice(start) : message.slice(start, end);
    if (part.length > 0 && part.trim().length > 0) out.push(part);
    if (end === -1) return out;
    start = end + 1;
  }
}

/** Decode a server message into frames (client side). Throws SyntaxError on bad JSON. */
export function decodeServerMessage(message: string): ServerFrame[] {
  return splitFrames(message).map((text) => JSON.parse(text) as ServerFrame);
}

/**
 * Depth of nesting of a parsed JSON value, computed without recursion so that a
 * hostile, deeply nested value cannot exhaust the stack. Stops counting past `limit`.
 */
export function jsonDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) max = depth;
    if (max > limit) return max;
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (const child of children) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return max;
}
