import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryNodeMessages } from '../../src/engine/memory-node-messages.js';
import type { LiveDocument } from '../../src/features/documents/live-document.js';
import type { DocumentMetrics } from '../../src/features/documents/metrics.js';
import { DocumentRelay, type RelayTarget } from '../../src/features/documents/relay.js';

const target: RelayTarget = { loaded: () => undefined, all: () => [], lockChanged: () => {}, refreshLocks: async () => {}, deletedElsewhere: () => {} };
const metrics = { relayed: () => {}, caughtUp: () => {} } as unknown as DocumentMetrics;
const doc = { tenant: 't', channel: 'doc:1' } as LiveDocument;

/** The same one-process messages, as a node of a cluster would see them (its messages leave the process). */
class SharedMessages extends MemoryNodeMessages {
  override readonly alone = false;
}

function relayOn(messages: MemoryNodeMessages) {
  const heard: string[] = [];
  for (const op of ['early', 'update', 'unstored', 'awareness', 'awareness-sync', 'state-sync', 'lock', 'deleted'])
    messages.onNotification(op, () => {
      heard.push(op);
    });
  const relay = new DocumentRelay(messages, target, metrics, pino({ level: 'silent' }), 60_000);
  const update = new Uint8Array([1, 2, 3]);
  relay.early(doc, [update], 0);
  relay.stored(doc, [update], { from: 1, to: 1 } as never, { after: 0, upTo: 1, early: true });
  relay.unstored(doc, [update]);
  relay.awareness(doc, update, 'ada');
  relay.loaded(doc);
  relay.lock('t', 'doc:1', 'field', 'ada');
  relay.deleted('t', 'doc:1');
  relay.close();
  return heard;
}

describe('document relay on the one-process engine', () => {
  it('builds and sends nothing when no other node can hear it', async () => {
    const heard = relayOn(new MemoryNodeMessages());
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual([]);
  });

  it('sends every change when other nodes can', async () => {
    const heard = relayOn(new SharedMessages());
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual(expect.arrayContaining(['early', 'update', 'unstored', 'awareness', 'awareness-sync', 'lock', 'deleted']));
  });
});
