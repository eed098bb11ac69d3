import { ChannelTally, OpCounter, paced, payload } from './activities.js';
import { BenchFailure } from './failure.js';
import type { Histogram } from './histogram.js';
import type { Target } from './ipc.js';
import { nowUs, withTimeout } from './proc.js';
import type { BenchServer } from './target.js';
import { mintToken } from './token.js';
import { ReplyFailure, WireConnection } from './wire.js';

export type PublishVia = 'ws' | 'http';

export interface PublishPlan {
  channels: string[];
  /** Publications per second over all channels (round-robin). */
  rate: number;
  durationMs: number;
  /** Warm-up publications carry `w: 1` and are not measured by the subscribers. */
  warmup?: boolean;
  /** Checked every few ms: true ends the run early. */
  stop?: () => boolean;
}

export interface PublishRun {
  sent: number;
  acked: number;
  failed: number;
  errors: Record<string, number>;
  /** Publish round trip (until the server acknowledged it). */
  latency: Histogram;
  perChannel: Record<string, number>;
  lastOffset: Record<string, number>;
  /** Every acknowledged offset of a channel follows the previous one (the publisher is the channel's only one). */
  contiguous: boolean;
  startUs: number;
  endUs: number;
}

/**
 * The publisher of the fan-out and recovery scenarios, in the bench process: over its own
 * WebSocket connection (`publish` commands) or over the HTTP API (`POST /api/v1/publish`
 * with an API key). Each payload carries its send time for the end-to-end latency.
 */
export class Publisher {
  #seq = 0;
  readonly #offsets = new Map<string, number[]>();

  private constructor(
    readonly via: PublishVia,
    readonly send: (channel: string, data: unknown) => Promise<{ offset: number }>,
    readonly close: () => Promise<void>,
  ) {}

  static async open(via: PublishVia, server: BenchServer, target: Target): Promise<Publisher> {
    if (via === 'http') {
      const key = server.apiKey;
      if (!key) throw new BenchFailure('publishing over HTTP needs an API key (--api-key)');
      const url = `${server.httpUrl}/api/v1/publish`;
      const headers = { authorization: `Bearer ${key}`, 'x-switchboard-tenant': target.tenant, 'content-type': 'application/json' };
      const send = async (channel: string, data: unknown) => {
        const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ channel, data }) });
        const body = (await res.json()) as { offset?: number; error?: { code: number; message: string; temporary: boolean } };
        if (!res.ok || typeof body.offset !== 'number') throw body.error ? new ReplyFailure(body.error) : new Error(`HTTP ${res.status}`);
        return { offset: body.offset };
      };
      return new Publisher(via, send, async () => {});
    }
    const token = await mintToken(target.secret, {
      sub: 'bench-publisher',
      tenant: target.tenant,
      caps: { [`${target.namespace}:*`]: ['publish', 'subscribe'] },
      ttlSeconds: target.tokenTtlSeconds,
    });
    const conn = new WireConnection(target.url);
    try {
      await withTimeout(conn.opened, 30_000, 'publisher open');
      await withTimeout(conn.call('connect', { token, name: 'switchboard-bench-publisher' }), 30_000, 'publisher connect');
    } catch (err) {
      conn.terminate();
      throw new BenchFailure(`the publisher could not connect: ${(err as Error).message}`);
    }
    return new Publisher(
      via,
      (channel, data) => conn.call('publish', { channel, data }),
      () => conn.close(),
    );
  }

  async run(plan: PublishPlan): Promise<PublishRun> {
    const ops = new OpCounter();
    const tally = new ChannelTally();
    const total = Math.max(0, Math.round((plan.rate * plan.durationMs) / 1000));
    const startUs = nowUs();
    let sent = 0;
    await paced(
      total,
      plan.rate,
      startUs + plan.durationMs * 1000 + 1e6,
      async (k) => {
        const channel = plan.channels[k % plan.channels.length] as string;
        sent++;
        const r = await ops.track(null, this.send(channel, payload(++this.#seq, plan.warmup)));
        if (!r) return;
        tally.add(channel, r.offset);
        let list = this.#offsets.get(channel);
        if (!list) {
          list = [];
          this.#offsets.set(channel, list);
        }
        list.push(r.offset);
      },
      plan.stop,
    );
    return {
      sent,
      acked: ops.ok,
      failed: ops.failed,
      errors: { ...ops.errors },
      latency: ops.latency,
      perChannel: tally.perChannel,
      lastOffset: this.lastOffsets(),
      contiguous: this.contiguous(),
      startUs,
      endUs: nowUs(),
    };
  }

  /** Highest acknowledged offset per channel over every run so far. */
  lastOffsets(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [ch, list] of this.#offsets) out[ch] = list.reduce((a, b) => Math.max(a, b), -1);
    return out;
  }

  contiguous(): boolean {
    for (const list of this.#offsets.values()) {
      const sorted = [...list].sort((a, b) => a - b);
      for (let i = 1; i < sorted.length; i++) if (sorted[i] !== (sorted[i - 1] as number) + 1) return false;
    }
    return true;
  }
}
