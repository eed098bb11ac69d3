/**
 * The engine conformance suites against the in-host engine (a host in this process on a Unix
 * socket in a temp dir, each part a worker's client of it), plus what only workers sharing
 * a host show: one sequencing point for every worker, one delivery per worker, a dead
 * worker's presence, slots and node-down notice, pipelined requests, errors reaching only
 * their caller, and a host that goes away and comes back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../../test/helpers/eventually.js';
import { type BrokerHandler, type ChannelEvent, RateLimited, type StreamLoss, type StreamPublication } from '../../src/engine/broker.js';
import type { Engine } from '../../src/engine/engine.js';
import { InHostEngineHost } from '../../src/engine/in-host/host.js';
import { createInHostEngine } from '../../src/engine/in-host/in-host-engine.js';
import { ReplyError } from '../../src/errors/reply-error.js';
import { describeBrokerConformance, describeControlBusConformance, describeLimitStoreConformance, describePresenceConformance } from './conformance.js';
import { describeLeaseStoreConformance } from './lease-conformance.js';
import { describeNodeMessagesConformance } from './node-messages-conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-inhost-'));
let sockets = 0;
const freshPath = () => join(dir, `h${++sockets}.sock`);
const RUN = randomBytes(3).toString('hex');
let seq = 0;
const freshChannel = () => `t${RUN}|project:${++seq}`;
const WAIT = 5_000;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function closeEngine(e: Engine): Promise<void> {
  await Promise.all([e.broker.close(), e.presence.close(), e.control.close(), e.limits.close(), e.messages.close(), e.leases.close()]);
}

/** A host of its own and one worker's engine on it. */
async function hostAndWorker(): Promise<{ host: InHostEngineHost; engine: Engine; cleanup(): Promise<void> }> {
  const host = await InHostEngineHost.listen({ path: freshPath(), surveyTimeout: 1000 });
  const engine = await createInHostEngine({ path: host.path, connectWait: 3000 });
  return { host, engine, cleanup: () => closeEngine(engine).then(() => host.close()) };
}

describeBrokerConformance('in-host', async () => {
  const { engine, cleanup } = await hostAndWorker();
  return { broker: engine.broker, cleanup };
});
describePresenceConformance('in-host', async () => {
  const { engine, cleanup } = await hostAndWorker();
  return { presence: engine.presence, cleanup };
});
describeControlBusConformance('in-host', async () => {
  const { engine, cleanup } = await hostAndWorker();
  return { control: engine.control, cleanup };
});
describeLimitStoreConformance('in-host', async () => {
  const { engine, cleanup } = await hostAndWorker();
  return { limits: engine.limits, cleanup };
});
describeNodeMessagesConformance('in-host', async () => {
  const { engine, cleanup } = await hostAndWorker();
  return { messages: engine.messages, cleanup };
});
describeLeaseStoreConformance('in-host', async () => {
  let running = await hostAndWorker();
  return {
    leases: running.engine.leases,
    cleanup: () => running.cleanup(),
    // The primary restarted: a new host (its leases gone) and a worker connected to it.
    restart: async () => {
      await running.cleanup();
      running = await hostAndWorker();
      return running.engine.leases;
    },
  };
});

class Recorder implements BrokerHandler {
  readonly pubs: Array<{ channel: string; pub: StreamPublication; epoch: string }> = [];
  readonly events: Array<{ channel: string; event: ChannelEvent }> = [];
  readonly losses: Array<{ channel: string; loss: StreamLoss }> = [];
  onPublication(channel: string, pub: StreamPublication, epoch: string): void {
    this.pubs.push({ channel, pub, epoch });
  }
  onEvent(channel: string, event: ChannelEvent): void {
    this.events.push({ channel, event });
  }
  onStreamLost(channel: string, loss: StreamLoss): void {
    this.losses.push({ channel, loss });
  }
  offsets(channel: string): number[] {
    return this.pubs.filter((p) => p.channel === channel).map((p) => p.pub.offset);
  }
}

const opts = { historySize: 100, historyTtl: 60_000, idempotencyTtl: 60_000 };
const entry = (client: string, user: string) => ({ client, user, status: 'online' as const, state: null, since: 1_700_000_000_000 });

describe('in-host engine: two workers on one host', () => {
  let host: InHostEngineHost;
  let a: Engine;
  let b: Engine;
  let recA: Recorder;
  let recB: Recorder;

  beforeEach(async () => {
    host = await InHostEngineHost.listen({ path: freshPath() });
    a = await createInHostEngine({ path: host.path, nodeId: 'worker-a' });
    b = await createInHostEngine({ path: host.path, nodeId: 'worker-b' });
    recA = new Recorder();
    recB = new Recorder();
    a.broker.setHandler(recA);
    b.broker.setHandler(recB);
  });
  afterEach(async () => {
    await closeEngine(a);
    await closeEngine(b);
    await host.close();
  });

  it('sequences publications of both workers once and hands each to every subscribed worker once, in offset order', async () => {
    const ch = freshChannel();
    // Two local subscriptions on worker a still make one delivery there: the Hub fans out locally.
    await a.broker.subscribe(ch);
    await a.broker.subscribe(ch);
    await b.broker.subscribe(ch);
    const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).broker.publish(ch, `{"i":${i}}`, opts)));
    expect(outcomes.map((o) => o.offset).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(new Set(outcomes.map((o) => o.epoch)).size).toBe(1);
    const all = Array.from({ length: 40 }, (_, i) => i + 1);
    await eventually(() => recA.offsets(ch).length === 40 && recB.offsets(ch).length === 40, WAIT, 'both workers receive all 40');
    expect(recA.offsets(ch)).toEqual(all);
    expect(recB.offsets(ch)).toEqual(all);
    // A worker that unsubscribes gets nothing more; the other still does (a sentinel proves the absence).
    await a.broker.unsubscribe(ch);
    await b.broker.publish(ch, '"sentinel"', opts);
    await eventually(() => recB.offsets(ch).length === 41, WAIT, 'the sentinel on b');
    await a.broker.subscribe(ch);
    await b.broker.publish(ch, '"again"', opts);
    await eventually(() => recA.offsets(ch).at(-1) === 42, WAIT, 'a subscribed again');
    expect(recA.offsets(ch)).toEqual([...all, 42]);
  });

  it('shares history, idempotency and epochs: a key used on one worker deduplicates on the other', async () => {
    const ch = freshChannel();
    const first = await a.broker.publish(ch, '"x"', { ...opts, idempotencyKey: 'k' });
    const again = await b.broker.publish(ch, '"x"', { ...opts, idempotencyKey: 'k' });
    expect(again).toEqual({ offset: first.offset, epoch: first.epoch, deduplicated: true });
    const page = await b.broker.history(ch, { limit: 10 });
    expect(page.publications.map((p) => p.data)).toEqual(['"x"']);
    expect(page.epoch).toBe(first.epoch);
  });

  it('counts a user’s connections and presence once across workers', async () => {
    const tenant = `t${RUN}${++seq}`;
    expect(await a.limits.acquireConnection(tenant, 'alice', 1, 10)).toBe('ok');
    expect(await b.limits.acquireConnection(tenant, 'alice', 1, 10)).toBe('user');
    expect(await b.limits.tenantUsage(tenant)).toEqual({ connections: 1, users: 1 });
    const ch = freshChannel();
    await a.presence.set(ch, entry('c1', 'alice'));
    await b.presence.set(ch, entry('c2', 'alice'));
    expect(await a.presence.counts(ch)).toEqual({ users: 1, connections: 2 });
    expect(await b.presence.set(ch, entry('c3', 'bob'), 2)).toBe('full');
  });

  it('sends node messages to every worker or to the one named, from the sending worker', async () => {
    const got: Array<[string, unknown, string]> = [];
    a.messages.onNotification('op', (d, from) => void got.push(['a', d, from]));
    b.messages.onNotification('op', (d, from) => void got.push(['b', d, from]));
    await a.messages.notify('op', { n: 1 });
    await a.messages.notify('op', 'only b', 'worker-b');
    await b.messages.notify('op', 'sentinel', 'worker-a');
    await eventually(() => got.length === 4, WAIT, 'four deliveries');
    expect(got.filter(([w]) => w === 'a')).toEqual([
      ['a', { n: 1 }, 'worker-a'],
      ['a', 'sentinel', 'worker-b'],
    ]);
    expect(got.filter(([w]) => w === 'b')).toEqual([
      ['b', { n: 1 }, 'worker-a'],
      ['b', 'only b', 'worker-a'],
    ]);
  });

  it('delivers control commands to both workers and sums channel lists and surveys over them', async () => {
    const seen: string[] = [];
    a.control.setHandler(() => seen.push('a'));
    b.control.setHandler(() => seen.push('b'));
    await b.control.publish({ kind: 'disconnect', tenant: 't', user: 'u', code: 3000, reason: 'r' });
    await eventually(() => seen.length === 2, WAIT, 'both workers get the command');
    expect(seen.sort()).toEqual(['a', 'b']);
    a.control.setChannelSource(() => [{ channel: 'project:1', subscribers: 2 }]);
    b.control.setChannelSource(() => [
      { channel: 'project:1', subscribers: 3 },
      { channel: 'project:2', subscribers: 1 },
    ]);
    const list = await a.control.channels('t', 'project:');
    expect([...list.channels].sort((x, y) => (x.channel < y.channel ? -1 : 1))).toEqual([
      { channel: 'project:1', subscribers: 5 },
      { channel: 'project:2', subscribers: 1 },
    ]);
    expect(list).toMatchObject({ nodes: 2, complete: true });
    a.control.setSurveyHandler('who', () => 'a');
    b.control.setSurveyHandler('who', () => 'b');
    expect(await b.control.survey('who', null)).toEqual({ answers: ['b', 'a'], nodes: 2, complete: true });
  });

  it('answers pipelined requests each to its own call: 300 in flight from one worker, in the order sent', async () => {
    const ch = freshChannel();
    const calls: Array<Promise<unknown>> = [];
    for (let i = 0; i < 300; i++) {
      calls.push(a.broker.publish(ch, `${i}`, opts));
      // A read between the writes sees exactly the writes sent before it.
      if (i % 50 === 49) calls.push(a.broker.history(ch, { limit: 0 }));
    }
    const results = await Promise.all(calls);
    let expected = 0;
    for (const r of results) {
      if ('deduplicated' in (r as object)) expect((r as { offset: number }).offset).toBe(++expected);
      else expect((r as { offset: number }).offset).toBe(expected);
    }
    expect(expected).toBe(300);
  });

  it('fails only the caller of a refused request; the other calls in flight on both workers succeed', async () => {
    const ch = freshChannel();
    const limited = { ...opts, rateLimit: { bucket: `b${RUN}`, ratePerSecond: 0.001, burst: 1 } };
    const calls = [
      a.broker.publish(ch, '1', limited),
      b.broker.publish(ch, '2', opts),
      a.broker.publish(ch, '3', limited),
      a.broker.publish(ch, '4', opts),
      b.broker.publish(ch, '5', opts),
    ];
    const settled = await Promise.allSettled(calls);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const refused = (settled[2] as PromiseRejectedResult).reason;
    expect(refused).toBeInstanceOf(RateLimited);
    expect(refused).toMatchObject({ bucket: `b${RUN}` });
    expect((refused as RateLimited).retryAfterMs).toBeGreaterThan(0);
    // Order between workers is the host's arrival order; each worker's own calls keep theirs.
    const stored = (await a.broker.history(ch, { limit: 10 })).publications.map((p) => p.data);
    expect([...stored].sort()).toEqual(['1', '2', '4', '5']);
    expect(stored.filter((d) => d === '1' || d === '4')).toEqual(['1', '4']);
  });
});

/** Start in-host-worker.mjs on `host` for `channel`: it joins presence and takes a slot, then waits. */
async function spawnWorker(
  host: InHostEngineHost,
  channel: string,
  env: Record<string, string> = {},
): Promise<{ proc: ChildProcess; node: string; slot: string }> {
  const worker = fileURLToPath(new URL('./in-host-worker.mjs', import.meta.url));
  const proc = spawn(process.execPath, [worker], {
    env: { ...process.env, SB_INHOST_PATH: host.path, SB_INHOST_CHANNEL: channel, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await new Promise<{ node: string; slot: string }>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /SB_WORKER_READY (.*)\n/.exec(out);
      if (m) resolve(JSON.parse(m[1] as string));
    });
    proc.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
  });
  return { proc, ...ready };
}

describe('in-host engine: a worker process that dies', () => {
  let host: InHostEngineHost;
  let a: Engine;
  let child: ChildProcess | null = null;

  beforeEach(async () => {
    host = await InHostEngineHost.listen({ path: freshPath() });
    a = await createInHostEngine({ path: host.path, nodeId: 'survivor' });
  });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = null;
    await closeEngine(a);
    await host.close();
  });

  it('kill -9 of a worker: its presence leaves with a leave event, its slot is freed, survivors are told it is down', async () => {
    const ch = freshChannel();
    const rec = new Recorder();
    a.broker.setHandler(rec);
    await a.broker.subscribe(ch);
    const down: string[] = [];
    a.messages.onNodeDown((node) => void down.push(node));
    const ready = await spawnWorker(host, ch);
    const { proc } = ready;
    child = proc;
    expect(ready.slot).toBe('ok');
    expect(await a.presence.get(ch)).toEqual([entry('child-client', 'child-user')].map((e) => ({ ...e, since: 1 })));
    expect(await a.limits.acquireConnection('child-tenant', 'child-user', 1, 10)).toBe('user');
    expect(host.workers.sort()).toEqual([ready.node, 'survivor'].sort());

    proc.kill('SIGKILL');
    await eventually(() => down.length > 0, WAIT, 'the node-down notice');
    expect(down).toEqual([ready.node]);
    expect(await a.presence.get(ch)).toEqual([]);
    expect(rec.events.map((e) => [e.event.kind, (e.event as { user: string }).user])).toEqual([['leave', 'child-user']]);
    expect(await a.limits.acquireConnection('child-tenant', 'child-user', 1, 10)).toBe('ok');
    expect(host.workers).toEqual(['survivor']);
  });
});

describe('in-host engine: a worker process that hangs', () => {
  let child: ChildProcess | null = null;
  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    child = null;
  });

  it('SIGSTOP of a worker that keeps its socket open: cut off after the heartbeat timeout (presence leaves, slot freed, survivors told); after SIGCONT it reconnects and restores', async () => {
    const HEARTBEAT = 600;
    const host = await InHostEngineHost.listen({ path: freshPath(), heartbeatTimeout: HEARTBEAT });
    const a = await createInHostEngine({ path: host.path, nodeId: 'survivor', heartbeatTimeout: HEARTBEAT });
    try {
      const ch = freshChannel();
      const rec = new Recorder();
      a.broker.setHandler(rec);
      await a.broker.subscribe(ch);
      const down: string[] = [];
      a.messages.onNodeDown((node) => void down.push(node));
      const ready = await spawnWorker(host, ch, { SB_INHOST_HEARTBEAT: String(HEARTBEAT) });
      child = ready.proc;
      expect(await a.presence.get(ch)).toHaveLength(1);

      ready.proc.kill('SIGSTOP');
      await eventually(() => down.length > 0, WAIT, 'the hung worker to be cut off');
      expect(down).toEqual([ready.node]);
      expect(host.workers).toEqual(['survivor']);
      expect(await a.presence.get(ch)).toEqual([]);
      expect(rec.events.map((e) => [e.event.kind, (e.event as { user: string }).user])).toEqual([['leave', 'child-user']]);
      expect(await a.limits.acquireConnection('child-tenant', 'child-user', 1, 10)).toBe('ok');
      await a.limits.releaseConnection('child-tenant', 'child-user');
      // The survivor beats and stays.
      expect(a.broker.ready()).toBe(true);

      ready.proc.kill('SIGCONT');
      await eventually(() => host.workers.includes(ready.node), WAIT, 'the worker to reconnect after SIGCONT');
      await eventually(async () => (await a.presence.get(ch)).length === 1, WAIT, 'its presence restored');
      // Its connection slot comes back with its own message, maybe just after the presence:
      // a slot this probe got meanwhile is given back before asking again.
      await eventually(
        async () => {
          const answer = await a.limits.acquireConnection('child-tenant', 'child-user', 1, 10);
          if (answer === 'ok') await a.limits.releaseConnection('child-tenant', 'child-user');
          return answer === 'user';
        },
        WAIT,
        'its connection slot restored',
      );
    } finally {
      await closeEngine(a);
      await host.close();
    }
  });
});

describe('in-host engine: the host goes away and comes back', () => {
  it('fails calls in flight and calls meanwhile with the temporary 116, then reconnects and restores its channels, presence and slots', async () => {
    const path = freshPath();
    let host = await InHostEngineHost.listen({ path });
    const engine = await createInHostEngine({ path, nodeId: 'w', requestTimeout: 3000 });
    const rec = new Recorder();
    engine.broker.setHandler(rec);
    const ch = freshChannel();
    try {
      await engine.broker.subscribe(ch);
      const before = await engine.broker.publish(ch, '"before"', opts);
      await engine.presence.set(ch, entry('c1', 'alice'));
      expect(await engine.limits.acquireConnection('t', 'alice', 1, 10)).toBe('ok');
      await eventually(() => rec.offsets(ch).length === 1, WAIT, 'the first publication');

      const inFlight = engine.broker.history(ch, { limit: 10 });
      await host.close();
      const err = await inFlight.then(
        () => null,
        (e: unknown) => e,
      );
      // Either the call had its answer before the host closed, or it fails typed: never a hang.
      if (err !== null) expect(err).toMatchObject({ code: 116, temporary: true });
      expect(err === null || err instanceof ReplyError).toBe(true);
      await eventually(() => !engine.broker.ready(), WAIT, 'not ready without a host');
      await expect(engine.broker.publish(ch, '"meanwhile"', opts)).rejects.toMatchObject({ code: 116, temporary: true });

      // A new host on the same socket: its state is empty, so the worker puts its part back.
      host = await InHostEngineHost.listen({ path });
      await eventually(() => engine.broker.ready(), WAIT, 'ready again');
      expect(host.workers).toEqual(['w']);
      expect(await engine.presence.get(ch)).toEqual([entry('c1', 'alice')]);
      expect(await engine.limits.acquireConnection('t', 'alice', 1, 10)).toBe('user');
      // The channel's stream is a new one: the worker's subscribers are told, then get its publications.
      expect(rec.losses).toEqual([{ channel: ch, loss: 'epoch' }]);
      const after = await engine.broker.publish(ch, '"after"', opts);
      expect(after.epoch).not.toBe(before.epoch);
      await eventually(() => rec.offsets(ch).length === 2, WAIT, 'the publication on the new host');
      expect(rec.pubs.at(-1)).toMatchObject({ epoch: after.epoch, pub: { offset: 1, data: '"after"' } });
    } finally {
      await closeEngine(engine);
      await host.close();
    }
  });
});
