import type { Logger } from 'pino';
import type * as Y from 'yjs';

/** A connection about to open a document: who, and what its token lets it do there. */
export interface AuthorizeDocumentEvent {
  tenant: string;
  name: string;
  user: string;
  /** What the token's capabilities allow (`subscribe` / `publish`). */
  read: boolean;
  write: boolean;
  /** `provider` (y-websocket or Hocuspocus) or `sdk`. */
  via: 'provider' | 'sdk';
}

/** A document loaded with nothing stored for it: fill `doc` (from the app's own database); what the hook adds is stored as its first change. */
export interface LoadDocumentEvent {
  tenant: string;
  name: string;
  doc: Y.Doc;
}

/** A change this node took (from one of its connections or the HTTP API; another node's changes are told on that node). */
export interface DocumentChangeEvent {
  tenant: string;
  name: string;
  update: Uint8Array;
  /** The user of the connection it came from; null for the server's own (HTTP API, a restore, a seed). */
  user: string | null;
}

/** Changes of a document written to its durable log, with the log numbers they got. */
export interface StoreDocumentEvent {
  tenant: string;
  name: string;
  updates: number;
  from: number;
  to: number;
}

/** A change about to be sent to this node's connections of the document (any origin, other nodes' included). */
export interface BroadcastEvent {
  tenant: string;
  name: string;
  update: Uint8Array;
  connections: number;
}

/**
 * Hooks for apps that embed the server as a library (`server.feature<DocumentsService>('documents')`),
 * run in registration order; each registration returns its removal. `onAuthorizeDocument`
 * refuses by returning false or throwing (the provider is closed with 4403, the SDK gets
 * 103); an `onLoadDocument` that throws fails the load (1011, the provider retries). The
 * others observe: what they throw is logged and changes nothing.
 *
 * @example
 * const docs = server.feature<DocumentsService>('documents');
 * docs.onLoadDocument(async ({ tenant, name, doc }) => doc.getText('body').insert(0, await legacyBody(tenant, name)));
 * docs.onChange(({ name, user }) => audit(name, user));
 */
export interface DocumentsService {
  onAuthorizeDocument(hook: (e: AuthorizeDocumentEvent) => boolean | undefined | Promise<boolean | undefined>): () => void;
  onLoadDocument(hook: (e: LoadDocumentEvent) => void | Promise<void>): () => void;
  onChange(hook: (e: DocumentChangeEvent) => void): () => void;
  onStoreDocument(hook: (e: StoreDocumentEvent) => void): () => void;
  beforeBroadcast(hook: (e: BroadcastEvent) => void): () => void;
}

type HookMap = {
  authorize: Parameters<DocumentsService['onAuthorizeDocument']>[0];
  load: Parameters<DocumentsService['onLoadDocument']>[0];
  change: Parameters<DocumentsService['onChange']>[0];
  store: Parameters<DocumentsService['onStoreDocument']>[0];
  broadcast: Parameters<DocumentsService['beforeBroadcast']>[0];
};

/** The registered hooks, and how the feature runs them. */
export class DocumentHooks implements DocumentsService {
  readonly #hooks: { [K in keyof HookMap]: HookMap[K][] } = { authorize: [], load: [], change: [], store: [], broadcast: [] };

  constructor(private readonly logger: Logger) {}

  #add<K extends keyof HookMap>(kind: K, hook: HookMap[K]): () => void {
    this.#hooks[kind].push(hook);
    return () => {
      const list = this.#hooks[kind];
      const i = list.indexOf(hook);
      if (i >= 0) list.splice(i, 1);
    };
  }

  onAuthorizeDocument(hook: HookMap['authorize']): () => void {
    return this.#add('authorize', hook);
  }
  onLoadDocument(hook: HookMap['load']): () => void {
    return this.#add('load', hook);
  }
  onChange(hook: HookMap['change']): () => void {
    return this.#add('change', hook);
  }
  onStoreDocument(hook: HookMap['store']): () => void {
    return this.#add('store', hook);
  }
  beforeBroadcast(hook: HookMap['broadcast']): () => void {
    return this.#add('broadcast', hook);
  }

  /** Whether every authorize hook lets the connection open the document (a hook that throws refuses). */
  async authorize(e: AuthorizeDocumentEvent): Promise<boolean> {
    for (const hook of [...this.#hooks.authorize]) {
      try {
        if ((await hook(e)) === false) return false;
      } catch (err) {
        this.logger.info({ err, name: e.name, user: e.user }, 'onAuthorizeDocument refused a document');
        return false;
      }
    }
    return true;
  }

  /** Run the load hooks on a document the store has nothing for (their errors fail the load). */
  async load(e: LoadDocumentEvent): Promise<void> {
    for (const hook of [...this.#hooks.load]) await hook(e);
  }

  get observesChanges(): boolean {
    return this.#hooks.change.length > 0;
  }

  change(e: DocumentChangeEvent): void {
    this.#observe('change', e);
  }

  store(e: StoreDocumentEvent): void {
    this.#observe('store', e);
  }

  get observesBroadcasts(): boolean {
    return this.#hooks.broadcast.length > 0;
  }

  broadcast(e: BroadcastEvent): void {
    this.#observe('broadcast', e);
  }

  #observe<K extends 'change' | 'store' | 'broadcast'>(kind: K, e: Parameters<HookMap[K]>[0]): void {
    for (const hook of [...this.#hooks[kind]]) {
      try {
        (hook as (x: typeof e) => void)(e);
      } catch (err) {
        this.logger.warn({ err, hook: kind }, 'a documents hook failed');
      }
    }
  }
}
