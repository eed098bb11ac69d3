import { z } from 'zod';
import { bool, duration, int } from '../../config/fields.js';

const MiB = 1024 * 1024;

/** Options of collaborative documents, at `documents` in the config (see docs/documents.md); a namespace's `documents` option may override the limits. */
export const documentsConfig = z.strictObject({
  maxDocumentBytes: int(64 * MiB, 1024, 1024 * MiB, 'largest document, bytes of its stored Yjs state and update log'),
  maxUpdateBytes: int(8 * MiB, 1024, 256 * MiB, 'largest Yjs update (or message) a client may send to a document, bytes'),
  awareness: bool(true, 'relay Yjs awareness (who is in a document, cursors) between its clients'),
  idleUnload: duration('30s', 'how long a document with no connection stays loaded before its memory is returned'),
  hibernateAfter: duration(
    '10s',
    'a loaded document that nobody changed or read for this long (to twice as long) is held as its encoded Yjs state instead of a live Y.Doc until its next use (0: never)',
  ),
  compactAfter: int(
    500,
    10,
    1_000_000,
    "log entries of a document (one per write) after which its log is merged into one snapshot, once they hold a quarter of the snapshot's bytes (or 64 times this many entries)",
  ),
  compactInterval: duration(
    '30s',
    "least time between two folds of a document's log into its snapshot (each fold encodes the whole document on the event loop); a log of 64 times compactAfter entries is folded whatever the time",
  ),
  groupCommit: duration(
    '5ms',
    'a busy document writes its log at most once per this long (its updates in between commit together; an update after a quiet spell is written at once; 0: once per event-loop turn)',
  ),
  sendWindow: duration(
    '2ms',
    'a busy document sends its peers at most once per this long (the changes in between go as one merged message per connection; a change after a quiet spell goes at once; 0: once per event-loop turn)',
  ),
  messagesPerSecond: int(
    200,
    1,
    1_000_000,
    'messages per documents connection per second (burst = 2x): beyond it awareness is dropped and a sync message closes the connection with 3007 (the provider reconnects and syncs again)',
  ),
  updateEventDebounce: duration('2s', 'the document.updated webhook event is sent at most once per document per this long'),
});

export type DocumentsConfig = z.output<typeof documentsConfig>;

/** The settings of one namespace's documents. */
export type DocumentSettings = Pick<DocumentsConfig, 'maxDocumentBytes' | 'maxUpdateBytes' | 'awareness'> & {
  /** Whether updates are stored (off: the document lives while it is loaded, like a whiteboard's scratch layer). */
  persistence: boolean;
  /** Take a version automatically once changes were stored this long (ms) after the last version; 0: never. */
  versionEvery: number;
  /** Lock-key prefix → root map whose keys those locks guard (`{ field: 'fields' }`); null: no part is guarded. */
  lockedParts: Readonly<Record<string, string>> | null;
};

/**
 * The namespace option `documents`: `true` (documents with the server-wide settings), an
 * object overriding some of them for this namespace (`{ maxDocumentBytes: 1048576, persistence: false }`),
 * or `false` (the default: the namespace has no documents).
 */
export const documentsNamespaceOption = z
  .union([
    z.boolean(),
    z.strictObject({
      persistence: z.boolean().optional(),
      maxDocumentBytes: z
        .number()
        .int()
        .min(1024)
        .max(1024 * MiB)
        .optional(),
      maxUpdateBytes: z
        .number()
        .int()
        .min(1024)
        .max(256 * MiB)
        .optional(),
      awareness: z.boolean().optional(),
      versionEvery: duration('0', 'a version is taken automatically once changes are stored this long after the last one (0: never)').optional(),
      lockedParts: z
        .record(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a lock-key prefix: lowercase letters, digits, - and _'), z.string().min(1).max(256))
        .refine((r) => Object.keys(r).length > 0 && Object.keys(r).length <= 16, '1 to 16 prefixes')
        .optional()
        .describe('lock-key prefix → root map: a lock on `<prefix>:<key>` of the document channel guards that key of the map (`{ "field": "fields" }`)'),
    }),
  ])
  .default(false);

/** Settings made per configuration and namespace option, once: every loaded document keeps its settings, so one object each would be one per document. */
const settingsMade = new WeakMap<DocumentsConfig, { plain: DocumentSettings | null; byOption: WeakMap<object, DocumentSettings> }>();

/** The settings of a namespace whose `documents` option is `option` (null: no documents there); the same frozen object for the same two. */
export function documentSettings(config: DocumentsConfig, option: unknown): DocumentSettings | null {
  if (option !== true && (typeof option !== 'object' || option === null)) return null;
  let made = settingsMade.get(config);
  if (!made) {
    made = { plain: null, byOption: new WeakMap() };
    settingsMade.set(config, made);
  }
  if (option === true) {
    made.plain ??= Object.freeze(settingsOf(config, {}));
    return made.plain;
  }
  let settings = made.byOption.get(option);
  if (!settings) {
    settings = Object.freeze(settingsOf(config, option as Partial<DocumentSettings>));
    made.byOption.set(option, settings);
  }
  return settings;
}

function settingsOf(config: DocumentsConfig, option: Partial<DocumentSettings>): DocumentSettings {
  return {
    maxDocumentBytes: config.maxDocumentBytes,
    maxUpdateBytes: config.maxUpdateBytes,
    awareness: config.awareness,
    persistence: true,
    versionEvery: 0,
    lockedParts: null,
    ...option,
  };
}
