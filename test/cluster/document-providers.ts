import { mintToken } from '@switchboard/server';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { type ClusterNode, eventually, SECRET } from './cluster.js';

/** How long a cluster document test waits for an outcome (ms). */
export const WAIT = 15_000;

/** A real y-websocket provider on one node, with the document it syncs. */
export interface Provider {
  doc: Y.Doc;
  provider: WebsocketProvider;
  destroy(): void;
}

/**
 * Opens providers on the nodes of a test cluster with tokens of tenant `acme` holding
 * `caps`, each resolved once synced; `closeAll` destroys every one it opened.
 */
export function documentProviders(caps: Record<string, string[]>) {
  const open: Provider[] = [];
  return {
    async open(node: ClusterNode, name: string, sub: string, doc = new Y.Doc()): Promise<Provider> {
      const token = await mintToken(SECRET, { sub, tenant: 'acme', caps: caps as never, ttlSeconds: 3600 });
      const p = new WebsocketProvider(`ws://127.0.0.1:${node.port}/documents`, name, doc, {
        WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
        params: { token },
        disableBc: true,
        maxBackoffTime: 200,
      });
      const handle = {
        doc,
        provider: p,
        destroy() {
          p.destroy();
        },
      };
      open.push(handle);
      await eventually(() => p.synced, WAIT, `${sub} synced on ${node.name}`);
      return handle;
    },
    closeAll(): void {
      for (const p of open.splice(0)) p.destroy();
    },
  };
}

/** Tokens written into a document's `log` text, each once per writer and step. */
export const write = (p: Provider, token: string) => p.doc.getText('log').insert(0, `${token};`);

export const tokens = (p: Provider) =>
  p.doc
    .getText('log')
    .toString()
    .split(';')
    .filter((t) => t !== '')
    .sort();

/** What converged means here: the same state vector (a struct left waiting keeps them apart), the same log text and the same fields. */
const state = (p: Provider) =>
  `${Buffer.from(Y.encodeStateVector(p.doc)).toString('hex')} ${tokens(p).join()} ${JSON.stringify(p.doc.getMap('fields').toJSON())}`;

export async function converged(ps: Provider[], what: string): Promise<void> {
  try {
    await eventually(() => ps.every((p) => state(p) === state(ps[0] as Provider)), WAIT, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}:\n${ps.map((p) => `${tokens(p).length} ${state(p).slice(0, 120)}`).join('\n')}`);
  }
}
