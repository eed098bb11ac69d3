import { ErrorCode } from '@switchboard/protocol';
import * as Y from 'yjs';
import { z } from 'zod';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import { type DocumentSettings, type DocumentsConfig, documentSettings } from './config.js';
import type { DocumentCensus } from './document-census.js';
import type { Documents } from './documents.js';
import { documentJson } from './json.js';
import { applyJsonChange, JsonChangeRefused, jsonChangeOp } from './json-change.js';
import { RestoreConflict, restoreInto } from './restore.js';
import type { VersionStore } from './version-store.js';

/** What the routes need of the running feature. */
export interface DocumentsApi {
  documents: Documents;
  versions: VersionStore;
  census: DocumentCensus;
  config: DocumentsConfig;
}

const versionInfo = z.object({
  id: z.string(),
  label: z.string().nullable(),
  createdBy: z.string().nullable(),
  authors: z.array(z.string()).describe('the users whose changes went in since the version before'),
  createdAt: z.number(),
  bytes: z.number(),
});

const documentName = z.string().min(1).max(512).describe('the document: a channel name in a namespace with documents, e.g. doc:form-42');
const nameParams = z.strictObject({ name: documentName });
const versionParams = z.strictObject({ name: documentName, id: z.string().min(1).max(64) });
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

/** What a response that counts over the nodes says of them. */
const clusterFields = {
  complete: z.boolean().describe('false when a live node did not answer in time: its connections are missing'),
  nodes: z.number().int().describe('the nodes that answered, this one included'),
};

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
        documents: z.array(
          z.object({
            name: z.string(),
            bytes: z.number(),
            createdAt: z.number(),
            updatedAt: z.number(),
            connections: z.number().describe('open connections to it, summed over the nodes that answered'),
          }),
        ),
        next: z.string().nullable().describe('pass as `after` for the next page; null on the last'),
        ...clusterFields,
      }),
      errors: [503],
      async handler({ tenant, query }) {
        const { documents, census } = api();
        const rows = await documents.store.list(tenant, query.after ?? null, query.limit);
        const { counts, nodes, complete } = await census.connections(
          tenant,
          rows.map((r) => r.channel),
        );
        return {
          documents: rows.map((r) => ({
            name: r.channel,
            bytes: r.bytes,
            createdAt: r.createdAt,
            updatedAt: r.updatedAt,
            connections: counts.get(r.channel) ?? 0,
          })),
          next: rows.length === query.limit ? (rows[rows.length - 1]?.channel ?? null) : null,
          complete,
          nodes,
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
      method: 'POST',
      url: '/documents/:name/changes',
      operationId: 'applyDocumentJsonChange',
      tag: 'documents',
      summary: 'Change a document with JSON operations (map keys, text, arrays), as one change from the server',
      description:
        "The operations apply in order as one Yjs change, relayed to every client and answered once stored. A root that does not exist yet is made of the operation's kind. 409 (132) when a root is of another kind, 422 (133) for a position beyond its content: nothing changes. 413 above the document size limit.",
      params: nameParams,
      body: z.strictObject({ ops: z.array(jsonChangeOp).min(1).max(1000) }),
      response: z.object({ name: z.string(), update: z.string().describe('the change as a Yjs update (base64)'), bytes: z.number() }),
      errors: [404, 409, 413, 422, 503],
      async handler({ node, tenant, params, body }) {
        const { documents, config } = api();
        const { ch, settings } = documentOf(node, config, tenant, params.name);
        return documents.use(ch, settings, async (doc) => {
          // Sized by its JSON before it is made (its Yjs encoding is smaller); every operation is checked before anything changes.
          const estimate = Buffer.byteLength(JSON.stringify(body.ops));
          if (estimate > settings.maxUpdateBytes) throw new ReplyError(ErrorCode.PayloadTooLarge, `change above ${settings.maxUpdateBytes} bytes`);
          if (doc.bytes + estimate > settings.maxDocumentBytes)
            throw new ReplyError(ErrorCode.PayloadTooLarge, `document above ${settings.maxDocumentBytes} bytes`);
          let update: Uint8Array = new Uint8Array(0);
          const capture = (u: Uint8Array) => {
            update = u;
          };
          doc.doc.on('update', capture);
          try {
            applyJsonChange(doc.doc, body.ops, null);
          } catch (err) {
            if (err instanceof JsonChangeRefused) throw new ReplyError(err.conflict ? ErrorCode.Conflict : ErrorCode.InvalidUpdate, err.message);
            throw err;
          } finally {
            doc.doc.off('update', capture);
          }
          await doc.whenStored();
          return { name: ch.channel, update: b64(update), bytes: doc.bytes };
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
        await api().versions.deleteAll(ch.tenant, ch.channel);
        return { deleted: true as const };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/documents/:name/versions',
      operationId: 'createDocumentVersion',
      tag: 'documents',
      summary: 'Keep the document as it is now as a named version',
      params: nameParams,
      body: z.strictObject({
        label: z.string().min(1).max(200).optional().describe('a name for people ("Sent to the client")'),
        createdBy: z.string().min(1).max(200).optional().describe('who asked for it (a user id)'),
      }),
      response: versionInfo,
      created: () => true,
      errors: [404, 503],
      async handler({ node, tenant, params, body }) {
        const { documents, config } = api();
        const { ch, settings } = documentOf(node, config, tenant, params.name);
        return documents.use(ch, settings, (doc) => documents.takeVersion(doc, body.label ?? null, body.createdBy ?? null));
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/documents/:name/versions',
      operationId: 'listDocumentVersions',
      tag: 'documents',
      summary: "A document's versions, newest first",
      params: nameParams,
      query: z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
      response: z.object({ versions: z.array(versionInfo) }),
      errors: [404, 503],
      async handler({ node, tenant, params, query }) {
        const { versions, config } = api();
        const { ch } = documentOf(node, config, tenant, params.name);
        return { versions: await versions.list(ch.tenant, ch.channel, query.limit) };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/documents/:name/versions/:id',
      operationId: 'getDocumentVersion',
      tag: 'documents',
      summary: 'One version: its state as a Yjs update (base64) and as JSON',
      params: versionParams,
      response: versionInfo.extend({ update: z.string(), json: z.record(z.string(), z.unknown()) }),
      errors: [404, 503],
      async handler({ node, tenant, params }) {
        const { versions, config } = api();
        const { ch } = documentOf(node, config, tenant, params.name);
        const version = await versions.get(ch.tenant, ch.channel, params.id);
        if (!version) throw new ReplyError(ErrorCode.NotFound, 'no such version');
        const { snapshot, ...info } = version;
        const doc = new Y.Doc();
        try {
          Y.applyUpdate(doc, snapshot);
          return { ...info, update: b64(snapshot), json: documentJson(doc) };
        } finally {
          doc.destroy();
        }
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/documents/:name/versions/:id/restore',
      operationId: 'restoreDocumentVersion',
      tag: 'documents',
      summary: 'Put a version back, as a new change every client receives (restore another version to undo it)',
      description:
        "Never a rewrite of the document's history: each root type's content is replaced by the version's in one change, answered once stored. 409 (132) when a root type is of another kind now than in the version.",
      params: versionParams,
      body: z.strictObject({}).optional(),
      response: z.object({ name: z.string(), restored: z.string(), bytes: z.number() }),
      errors: [404, 409, 503],
      async handler({ node, tenant, params }) {
        const { documents, versions, config } = api();
        const { ch, settings } = documentOf(node, config, tenant, params.name);
        const version = await versions.get(ch.tenant, ch.channel, params.id);
        if (!version) throw new ReplyError(ErrorCode.NotFound, 'no such version');
        return documents.use(ch, settings, async (doc) => {
          try {
            restoreInto(doc.doc, version.snapshot, null);
          } catch (err) {
            if (err instanceof RestoreConflict) throw new ReplyError(ErrorCode.Conflict, err.message);
            throw err;
          }
          await doc.whenStored();
          return { name: ch.channel, restored: version.id, bytes: doc.bytes };
        });
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/documents/:name/awareness',
      operationId: 'getDocumentAwareness',
      tag: 'documents',
      summary: "Who is in a document, on every node: each awareness client's state (cursor, user), as its provider set it",
      description:
        'Each node answers for its own connections, whether or not the node asked has the document loaded; each awareness client id once (from the node its connection is on), sorted by client id.',
      params: nameParams,
      response: z.object({
        states: z.array(z.object({ clientId: z.number(), state: z.unknown() })),
        complete: clusterFields.complete.describe('false when a live node did not answer in time: its states may be missing or not current'),
        nodes: clusterFields.nodes,
      }),
      errors: [404, 503],
      async handler({ node, tenant, params }) {
        const { census, config } = api();
        const { ch } = documentOf(node, config, tenant, params.name);
        return census.awareness(ch.tenant, ch.channel);
      },
    }),
  ];
}
