/**
 * A load-generator worker process of `switchboard bench`: forked by the bench command,
 * holds its share of the connections and runs what the command asks over IPC. It exits
 * when the bench process goes away, so it can never outlive the run.
 */
import { churn, mix, publishEach } from './activities.js';
import { ConnectionSet } from './connection-set.js';
import { EditorSet } from './editor-set.js';
import { REPLY_OF, type WorkerReply, type WorkerRequest } from './ipc.js';
import { MetricClients } from './metric-clients.js';

const set = new ConnectionSet();
/** The light editors of the documents scenario (raw y-websocket clients, not protocol v1 connections). */
const editors = new EditorSet();
/** The metric watchers and SDK pushers of the metric scenarios. */
const metricClients = new MetricClients();

/** A reply to the bench process; if it went away meanwhile (a run stopped at its deadline), the error goes to the callback, not to an unhandled 'error' event. */
function send(msg: WorkerReply): void {
  if (process.connected) process.send?.(msg, undefined, {}, () => {});
}

async function handle(req: WorkerRequest): Promise<WorkerReply> {
  switch (req.type) {
    case 'open':
      return set.open(req);
    case 'publish':
      return publishEach(set, req);
    case 'churn':
      return churn(set, req);
    case 'mix':
      return mix(set, req);
    case 'storm':
      return set.storm(req);
    case 'results':
      return set.results(req);
    case 'editors-open':
      return editors.open(req);
    case 'edit':
      return editors.edit(req);
    case 'join':
      return editors.join(req);
    case 'metric-watch':
      return metricClients.watch(req);
    case 'metric-push':
      return metricClients.push(req);
    case 'metric-results':
      return metricClients.results();
    case 'counters':
      return metricClients.addTo(editors.addTo(set.counters()));
    case 'reset':
      set.reset();
      metricClients.reset();
      return { type: 'reset' };
    case 'close':
      editors.close();
      await metricClients.close();
      await set.close();
      return { type: 'closed' };
  }
}

process.on('message', (raw) => {
  const req = raw as WorkerRequest;
  handle(req).then(send, (err: unknown) => send({ type: 'failed', replyTo: REPLY_OF[req.type], message: err instanceof Error ? err.message : String(err) }));
});
process.on('disconnect', () => process.exit(0));
