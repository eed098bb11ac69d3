/**
 * Subscriber worker of the side-by-side comparisons (bench/compare.ts, bench/cluster.ts):
 * holds its share of the connections to one of the three servers, records one latency per
 * received publication (receipt time minus the publisher's timestamp, same clock) and
 * per-connection counts for the delivery check. Driven by the orchestrator over IPC.
 */
import { type BenchClient, createClient, mintBenchToken, type OnPub } from './adapters.js';
import type { ComparePayload } from './comparison.js';
import { nowUs, withTimeout } from './proc.js';
import type { SubscriberReply, SubscriberRequest } from './subscriber-ipc.js';

let clients: BenchClient[] = [];
let counts = new Uint32Array(0);
let lastSeq = new Int32Array(0);
let latencies = new Float64Array(1 << 16);
let n = 0;
let received = 0;
/** Warm-up publications received: progress too, while a saturated server works off its backlog. */
let warmReceived = 0;
let outOfOrder = 0;
let lastRecvUs = 0;

function send(msg: SubscriberReply): void {
  process.send?.(msg);
}

function record(i: number, data: ComparePayload): void {
  if (data.w) {
    warmReceived++;
    return;
  }
  const lat = nowUs() - data.t;
  received++;
  counts[i]++;
  if (data.seq <= (lastSeq[i] as number)) outOfOrder++;
  lastSeq[i] = data.seq;
  if (n === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[n++] = lat;
  lastRecvUs = nowUs();
}

function reset(): void {
  counts.fill(0);
  lastSeq.fill(-1);
  n = 0;
  received = 0;
  outOfOrder = 0;
  lastRecvUs = 0;
}

async function connect(req: Extract<SubscriberRequest, { type: 'connect' }>): Promise<void> {
  const tokens: Array<string | undefined> = new Array(req.count);
  if (req.kind !== 'ws') {
    for (let i = 0; i < req.count; i++) tokens[i] = await mintBenchToken(req.secret, `${req.userPrefix}${i}`);
  }
  clients = new Array(req.count);
  counts = new Uint32Array(req.count);
  lastSeq = new Int32Array(req.count).fill(-1);
  let next = 0;
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  const progress = setInterval(() => send({ type: 'progress', ok, failed }), 1000);
  const startUs = nowUs();
  let endUs = startUs;
  const lane = async (): Promise<void> => {
    while (next < req.count) {
      const i = next++;
      const onPub: OnPub = (data) => record(i, data);
      const token = tokens[i];
      const client = createClient(req.kind, {
        url: req.url,
        localAddress: req.addresses[(req.addressOffset + i) % req.addresses.length] as string,
        ...(token ? { token } : {}),
        onPub,
      });
      clients[i] = client;
      try {
        await withTimeout(client.ready, 30_000, 'connect');
        if (req.subscribe) await withTimeout(client.subscribe(req.channel), 30_000, 'subscribe');
        ok++;
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push((err as Error).message);
      }
      endUs = nowUs();
    }
  };
  await Promise.all(Array.from({ length: Math.min(req.concurrency, req.count) }, lane));
  clearInterval(progress);
  send({ type: 'connected', ok, failed, errors, startUs, endUs });
}

async function closeAll(): Promise<void> {
  const outcomes = await Promise.all(clients.map((c) => c?.close(10_000) ?? Promise.resolve('closed' as const)));
  clients = [];
  send({ type: 'closed', closed: outcomes.filter((o) => o === 'closed').length, forced: outcomes.filter((o) => o === 'forced').length });
}

process.on('message', (raw) => {
  const req = raw as SubscriberRequest;
  switch (req.type) {
    case 'connect':
      connect(req).catch((err) => send({ type: 'connected', ok: 0, failed: req.count, errors: [String(err)], startUs: 0, endUs: 0 }));
      break;
    case 'reset':
      reset();
      send({ type: 'reset' });
      break;
    case 'count':
      send({ type: 'count', received, warmReceived, lastRecvUs });
      break;
    case 'results': {
      let min = Infinity;
      let max = 0;
      for (const c of counts) {
        if (c < min) min = c;
        if (c > max) max = c;
      }
      send({
        type: 'results',
        received,
        outOfOrder,
        minPerConn: counts.length ? min : 0,
        maxPerConn: max,
        connections: counts.length,
        lastRecvUs,
        latencies: latencies.slice(0, n),
      });
      break;
    }
    case 'close':
      void closeAll();
      break;
    case 'exit':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
