import { ErrorCode } from '@switchboard/protocol';
import * as Y from 'yjs';
import { z } from 'zod';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import { type DocumentSettings, type DocumentsConfig, documentSettings } from './config.js';
import type { Documents } from './documents.js';
import { documentJson } from './json.js';

/** What the routes need of the running feature. */
export interface DocumentsApi {
  documents: Documents;
  config: DocumentsConfig;
}

const documentName = z.string().min(1).max(512).describe('the document: a channel name in a namespace with documents, e.g. doc:form-42');
const nameParams = z.strictObject({ name: documentName });
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');

/** The document a tenant names, or 404 (not a document namespace: the same answer as a missing document, and nothing is created). */
function documentOf(node: NodeContext, config: DocumentsConfig, tenant: string, name: string): { ch: ResolvedChannel; settings: DocumentSettings } {
  let ch: ResolvedChannel;
  try {
    ch = node.resolve(tenant, name);
  } catch {
    throw new ReplyError(ErrorCode.NotFound, 'no such document');
  }
  const settings = documentSettings(config, ch.options['documents']);
  if (!settings) throw new ReplyError(ErrorCode.NotFound, 'no such document');
  return { ch, settings };
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** The backend's document routes: list, read (Yjs update and JSON), apply an update, delete, and who is in one. */
export function documentRoutes(api: () => DocumentsApi): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/documents',
      operationId: 'listDocuments',
      tag: 'documents',
      summary: "The tenant's stored documents, by name",
      query: z.strictObject({
        after: documentName.optional().describe('the last name of the previous page'),
        limit: z.coerce.number().int().min(1).max(200).default(50),
      }),
      response: z.object({
        documents: z.array(z.object({ name: z.string(), bytes: z.number(), createdAt: z.number(), updatedAt: z.number(), connections: z.number() })),
        next: z.string().nullable().describe('pass as `after` for the next page; null on the last'),
      }),
      errors: [503],
      async handler({ tenant, query }) {
        const { documents } = api();
        const rows = await documents.store.list(tenant, query.after ?? null, query.limit);
        return {
          documents: rows.map((r) => ({
            name: r.channel,
            bytes: r.bytes,
            createdAt: r.createdAt,
            updatedAt: r.updatedAt,
            connections: documents.loaded(tenant, r.channel)?.peers.size ?? 0,
          })),
          next: rows.length === query.limit ? (rows[rows.length - 1]?.channel ?? null) : null,
        };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/documents/:name',
      operationId: 'getDocument',
      tag: 'documents',
      summary: 'A document: its whole state as one Yjs update (base64) and as JSON',
      description:
        'The root types are read by what they hold (keys: a map; text: a string; XML: its string; else an array). Apply `update` to a `Y.Doc` to get the document itself.',
      params: nameParams,
      response: z.object({ name: z.string(), update: z.string(), stateVector: z.string(), json: z.record(z.string(), z.unknown()) }),
      errors: [404, 503],
      async handler({ node, tenant, params }) {
        const { documents, config } = api();
        const { ch, settings } = documentOf(node, config, tenant, params.name);
        return documents.use(ch, settings, (doc) => ({
          name: ch.channel,
          update: b64(Y.encodeStateAsUpdate(doc.doc)),
          stateVector: b64(doc.stateVector()),
          json: documentJson(doc.doc),
        }));
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/documents/:name/updates',
      operationId: 'applyDocumentUpdate',
      tag: 'documents',
      summary: 'Apply a Yjs update to a document, as a change from the server',
      description:
        'Relayed to every client of the document and answered once stored. 422 with code 133 for a malformed update (nothing changes), 413 above the document or update size limits.',
      params: nameParams,
      body: z.strictObject({ update: base64.describe('a Yjs update (v1 encoding), base64') }),
      response: z.object({ name: z.string(), bytes: z.number().describe('the stored size after it') }),
      errors: [404, 413, 422, 503],
      async handler({ node, tenant, params, body }) {
        const { documents, config } = api();
        const { ch, settings } = documentOf(node, config, tenant, params.name);
        const update = new Uint8Array(Buffer.from(body.update, 'base64'));
        if (update.byteLength > settings.maxUpdateBytes) throw new ReplyError(ErrorCode.PayloadTooLarge, `update above ${settings.maxUpdateBytes} bytes`);
        return documents.use(ch, settings, async (doc) => {
          const result = doc.apply(update, null);
          if (result === 'too-large') throw new ReplyError(ErrorCode.PayloadTooLarge, `document above ${settings.maxDocumentBytes} bytes`);
          if (result === 'invalid') throw new ReplyError(ErrorCode.InvalidUpdate, 'not a well-formed Yjs update for this document');
          await doc.whenStored();
          return { name: ch.channel, bytes: doc.bytes };
        });
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/documents/:name',
      operationId: 'deleteDocument',
      tag: 'documents',
      summary: 'Delete a document: its open connections are closed (4404 / permission denied) and its data removed',
      params: nameParams,
      response: z.object({ deleted: z.literal(true) }),
      errors: [404, 503],
      async handler({ node, tenant, params }) {
        const { documents, config } = api();
        const { ch } = documentOf(node, config, tenant, params.name);
        if (!(await documents.delete(ch))) throw new ReplyError(ErrorCode.NotFound, 'no such document');
        return { deleted: true as const };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/documents/:name/awareness',
      operationId: 'getDocumentAwareness',
      tag: 'documents',
      summary: "Who is in a document on this node: each awareness client's state (cursor, user), as its provider set it",
      params: nameParams,
      response: z.object({ states: z.array(z.object({ clientId: z.number(), state: z.unknown() })) }),
      errors: [404, 503],
      async handler({ node, tenant, params }) {
        const { documents, config } = api();
        const { ch } = documentOf(node, config, tenant, params.name);
        const doc = documents.loaded(ch.tenant, ch.channel);
        const states = doc ? [...doc.awareness.getStates().entries()].map(([clientId, state]) => ({ clientId, state })) : [];
        return { states };
      },
    }),
  ];
}
