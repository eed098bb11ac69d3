// A worker process of the in-host engine tests: connects to the host at SB_INHOST_PATH,
// subscribes, joins presence in SB_INHOST_CHANNEL and takes a connection slot, then prints
// `SB_WORKER_READY {"node":…}` and waits to be killed.
import { createInHostEngine } from '../../dist/engine/in-host/in-host-engine.js';

const channel = process.env.SB_INHOST_CHANNEL;
const heartbeat = process.env.SB_INHOST_HEARTBEAT ? { heartbeatTimeout: Number(process.env.SB_INHOST_HEARTBEAT) } : {};
const engine = await createInHostEngine({ path: process.env.SB_INHOST_PATH, connectWait: 5000, ...heartbeat });
await engine.broker.subscribe(channel);
await engine.presence.set(channel, { client: 'child-client', user: 'child-user', status: 'online', state: null, since: 1 });
const slot = await engine.limits.acquireConnection('child-tenant', 'child-user', 1, 10);
process.stdout.write(`SB_WORKER_READY ${JSON.stringify({ node: engine.messages.nodeId, slot })}\n`);
// Kept alive until the test kills it.
setInterval(() => {}, 60_000);
