/**
 * The documents' census over several nodes (`DocumentCensus`), each node with real Yjs
 * awareness (`DocumentAwareness`) and the surveys routed between them in the test: counts
 * are summed per document, malformed answers ignored, each node answers only the states its
 * own connections set, an awareness client id is listed once, and a node that does not
 * answer is stood in for by the copies the asking node holds of its states.
 */
import { describe, expect, it } from 'vitest';
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness';
import * as Y from 'yjs';
import type { SurveysView } from '../../src/core/context.js';
import type { SurveyHandler } from '../../src/engine/control-bus.js';
import { DocumentAwareness } from '../../src/features/documents/document-awareness.js';
import { DocumentCensus } from '../../src/features/documents/document-census.js';

/** Surveys between the test's nodes: every node asked, the asking one first; a silent node gives no answer. */
class Surveys {
  readonly handlers = new Map<string, Map<string, SurveyHandler>>();
  readonly silent = new Set<string>();

  view(node: string): SurveysView {
    const own = new Map<string, SurveyHandler>();
    this.handlers.set(node, own);
    return {
      answer: (kind, handler) => own.set(kind, handler),
      ask: async (kind, request) => {
        const order = [node, ...[...this.handlers.keys()].filter((n) => n !== node)];
        const answers: unknown[] = [];
        let nodes = 0;
        for (const n of order) {
          if (this.silent.has(n)) continue;
          nodes++;
          const answer = await this.handlers.get(n)?.get(kind)?.(request);
          if (answer !== undefined) answers.push(answer);
        }
        return { answers, nodes, complete: this.silent.size === 0 };
      },
    };
  }
}

type Peer = { name: string };
interface Loaded {
  peers: Set<Peer>;
  aware: DocumentAwareness<Peer>;
}

/** A node of the test: its loaded documents by `tenant|channel`, and its census. */
function node(surveys: Surveys, id: string) {
  const docs = new Map<string, Loaded>();
  const census = new DocumentCensus(surveys.view(id), id, { loaded: (t, c) => docs.get(`${t}|${c}`) });
  const load = (channel: string): Loaded => {
    let doc = docs.get(`acme|${channel}`);
    if (!doc) {
      doc = { peers: new Set(), aware: new DocumentAwareness<Peer>({ awarenessChanged() {}, relayAwareness() {}, gone: false }) };
      docs.set(`acme|${channel}`, doc);
    }
    return doc;
  };
  return { id, census, load };
}

/** A provider's awareness update: its client id and its user's name. */
function stateOf(clientId: number, name: string): Uint8Array {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  const awareness = new Awareness(doc);
  awareness.setLocalState({ user: { name } });
  const update = encodeAwarenessUpdate(awareness, [clientId]);
  awareness.destroy();
  return update;
}

const names = (states: Array<{ clientId: number; state: unknown }>) => states.map((s) => `${s.clientId}:${(s.state as { user: { name: string } }).user.name}`);

describe('documents census', () => {
  it('sums the connections of each document over the nodes, in one question, ignoring a malformed answer', async () => {
    const surveys = new Surveys();
    const [a, b] = [node(surveys, 'a'), node(surveys, 'b')];
    node(surveys, 'c');
    surveys.view('d').answer('connections', () => ['not', 'counts']);
    for (const p of ['ann', 'amy']) a.load('doc:one').peers.add({ name: p });
    b.load('doc:one').peers.add({ name: 'bob' });
    for (const p of ['bo', 'bea', 'ben']) b.load('doc:two').peers.add({ name: p });
    const result = await a.census.connections('acme', ['doc:one', 'doc:two', 'doc:three']);
    expect(Object.fromEntries(result.counts)).toEqual({ 'doc:one': 3, 'doc:two': 3 });
    expect(result).toMatchObject({ nodes: 4, complete: true });
    expect((await b.census.connections('other', ['doc:one'])).counts.size).toBe(0);
  });

  it("lists each node's own states once, asked on a node without the document; a silent node's states come from the asker's copies", async () => {
    const surveys = new Surveys();
    const [a, b, c] = [node(surveys, 'a'), node(surveys, 'b'), node(surveys, 'c')];
    const ann = stateOf(11, 'ann');
    const bob = stateOf(7, 'bob');
    const bobsPeer = { name: 'bob' };
    // ann is on a, bob on b; each node holds a copy of the other's state.
    expect(a.load('doc:one').aware.apply(ann, { name: 'ann' }, 'ann')).toBe('applied');
    expect(b.load('doc:one').aware.apply(bob, bobsPeer, 'bob')).toBe('applied');
    a.load('doc:one').aware.applyRemote(bob, 'b', 'bob');
    b.load('doc:one').aware.applyRemote(ann, 'a', 'ann');

    for (const asker of [a, b, c]) {
      const result = await asker.census.awareness('acme', 'doc:one');
      expect(names(result.states)).toEqual(['7:bob', '11:ann']);
      expect(result).toMatchObject({ nodes: 3, complete: true });
    }
    expect((await c.census.awareness('acme', 'doc:other')).states).toEqual([]);

    // a does not answer: b shows ann from its copy; c, which holds none, only bob.
    surveys.silent.add('a');
    expect(await b.census.awareness('acme', 'doc:one')).toMatchObject({ nodes: 2, complete: false });
    expect(names((await b.census.awareness('acme', 'doc:one')).states)).toEqual(['7:bob', '11:ann']);
    expect(names((await c.census.awareness('acme', 'doc:one')).states)).toEqual(['7:bob']);
    // A copy never stands in for a node that answered: bob left b, and b's answer has him gone.
    surveys.silent.clear();
    b.load('doc:one').aware.leave(bobsPeer);
    expect(names((await a.census.awareness('acme', 'doc:one')).states)).toEqual(['11:ann']);
  });

  it('answers nothing once closed', async () => {
    const surveys = new Surveys();
    const [a, b] = [node(surveys, 'a'), node(surveys, 'b')];
    b.load('doc:one').peers.add({ name: 'bob' });
    b.census.close();
    expect((await a.census.connections('acme', ['doc:one'])).counts.size).toBe(0);
    expect((await a.census.awareness('acme', 'doc:one')).states).toEqual([]);
  });
});
