import { ErrorCode, parseChannel } from '@switchboard/protocol';
import type { NamespaceConfig } from '../config/schema.js';
import { ReplyError } from '../errors/reply-error.js';

/** A channel resolved for one tenant: the client-visible name and the internal key. */
export interface ResolvedChannel {
  /** Client-visible name, e.g. `project:42`. */
  channel: string;
  /** Tenant-qualified key used by engines: `tenant|channel`. Tenants and names cannot contain '|'. */
  key: string;
  tenant: string;
  namespace: string;
  /** The part after `namespace:` ('' for a bare namespace channel). */
  name: string;
  options: NamespaceConfig;
}

export const KEY_SEPARATOR = '|';

/** Resolves channel names against the declared namespaces. Unknown namespaces are refused. */
export class ChannelResolver {
  readonly #namespaces: ReadonlyMap<string, NamespaceConfig>;

  constructor(
    namespaces: Readonly<Record<string, NamespaceConfig>>,
    private readonly maxLength: number,
  ) {
    this.#namespaces = new Map(Object.entries(namespaces));
  }

  resolve(tenant: string, channel: unknown): ResolvedChannel {
    const parsed = parseChannel(channel, this.maxLength);
    if (!parsed) throw new ReplyError(ErrorCode.InvalidChannel);
    const options = this.#namespaces.get(parsed.namespace);
    if (!options) throw new ReplyError(ErrorCode.UnknownChannel, parsed.namespace);
    const name = channel as string;
    return { channel: name, key: `${tenant}${KEY_SEPARATOR}${name}`, tenant, namespace: parsed.namespace, name: parsed.name, options };
  }

  /** The client-visible channel of an internal key. */
  static channelOf(key: string): string {
    return key.slice(key.indexOf(KEY_SEPARATOR) + 1);
  }

  static tenantOf(key: string): string {
    return key.slice(0, key.indexOf(KEY_SEPARATOR));
  }
}
