import { RawClient } from '../helpers/raw-client.js';
import type { DocBlock } from './markdown.js';
import { matchJsonSample, parseJsonSample } from './shape.js';

/**
 * Wire-format examples, checked on the wire: each `→` frame is sent as written to the real
 * server (after its placeholders — `<JWT>`, an example epoch — are replaced), and each `←`
 * frame must have the shape of what the server answers. A push the example shows without a
 * command (`← {"push":…}`) is caused the way the surrounding text says it happens.
 */

export interface WireFrame {
  direction: '→' | '←';
  text: string;
}

export interface WireContext {
  wsUrl: string;
  /** A token of the example's user; `fresh` another one for the same user (for `refresh`). */
  token(fresh?: boolean): Promise<string>;
  /** Make sure a channel's stream has at least `offset` publications; its epoch. */
  streamAt(channel: string, offset: number): Promise<string>;
  /** Cause an `unsubscribe` push with this code on a channel the connection is subscribed to. */
  forceUnsubscribe(channel: string, code: number): Promise<void>;
}

/** The frames of a block: a line starting with → or ← opens one; other lines continue it. */
export function parseWireFrames(text: string): WireFrame[] {
  const frames: WireFrame[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(→|←)\s*(.*)$/.exec(line);
    if (m) frames.push({ direction: m[1] as WireFrame['direction'], text: m[2] as string });
    else if (frames.length > 0 && line.trim() !== '') (frames.at(-1) as WireFrame).text += line.trim();
  }
  return frames;
}

/** Replace the example's placeholders with what the server knows. */
async function fill(text: string, ctx: WireContext, epochs: Map<string, string>): Promise<string> {
  let out = text;
  if (out.includes('<JWT>')) out = out.replaceAll('<JWT>', await ctx.token());
  if (out.includes('<new JWT>')) out = out.replaceAll('<new JWT>', await ctx.token(true));
  for (const [example, real] of epochs) out = out.replaceAll(`"${example}"`, `"${real}"`);
  return out;
}

/** Check one block of frames; returns the differences (empty when the server agrees). */
export async function checkWireFrames(block: DocBlock, ctx: WireContext): Promise<string[]> {
  const frames = parseWireFrames(block.text);
  if (frames.length === 0) throw new Error(`${block.file}:${block.line}: no → / ← frames`);
  const client = await RawClient.open(ctx.wsUrl);
  const problems: string[] = [];
  try {
    const commands = frames
      .filter((f) => f.direction === '→')
      .map((f) => parseJsonSample(f.text) as { id: number; method: string; params?: Record<string, unknown> });
    const replies = frames
      .filter((f) => f.direction === '←')
      .map((f) => parseJsonSample(f.text) as { id?: number; push?: string; channel?: string; offset?: unknown; result?: { offset?: unknown } });
    if (commands[0]?.method !== 'connect') {
      const reply = await client.call('connect', { token: await ctx.token() });
      if (reply.error) throw new Error(`connect refused: ${JSON.stringify(reply.error)}`);
    }
    // An example of recovery names a position: make the stream reach it, and use its real epoch.
    const epochs = new Map<string, string>();
    for (const c of commands) {
      const recover = c.params?.['recover'] as { offset: number; epoch: string } | undefined;
      if (recover && typeof c.params?.['channel'] === 'string') {
        const latest = replies.find((r) => r.id === c.id)?.result?.offset;
        epochs.set(recover.epoch, await ctx.streamAt(c.params['channel'], typeof latest === 'number' ? latest : recover.offset));
      }
      // Server-side subscriptions restored at connect name positions too; their push says where the stream is.
      const subs = c.method === 'connect' ? (c.params?.['subs'] as Record<string, { offset: number; epoch: string }> | undefined) : undefined;
      for (const [channel, position] of Object.entries(subs ?? {})) {
        const latest = replies.find((r) => r.push === 'subscribe' && r.channel === channel)?.offset;
        epochs.set(position.epoch, await ctx.streamAt(channel, typeof latest === 'number' ? latest : position.offset));
      }
    }
    for (const frame of frames) {
      if (frame.direction === '→') {
        client.sendRaw(await fill(frame.text, ctx, epochs));
        continue;
      }
      const sample = parseJsonSample(frame.text) as { id?: number; push?: string; channel?: string; code?: number };
      if (sample.push !== undefined) {
        // A server-side subscription's push follows the connect reply at once: look from the start.
        const from = sample.push === 'subscribe' ? 0 : client.frames.length;
        if (sample.push === 'unsubscribe' && sample.channel && sample.code !== undefined) {
          const reply = await client.call('subscribe', { channel: sample.channel });
          if (reply.error) throw new Error(`subscribe refused: ${JSON.stringify(reply.error)}`);
          await ctx.forceUnsubscribe(sample.channel, sample.code);
        }
        const got = await client.waitFor((f) => f.push === sample.push, 5000, from);
        problems.push(...matchJsonSample(sample, got).map((p) => `${frame.text}\n  ${p}`));
        continue;
      }
      const got = await client.waitFor((f) => f.id === sample.id, 5000);
      problems.push(...matchJsonSample(sample, got).map((p) => `${frame.text}\n  ${p}\n  answered: ${JSON.stringify(got).slice(0, 500)}`));
    }
  } finally {
    client.close();
  }
  return problems;
}
