import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { decodingOrRefuse, encode, YProtocolError } from './y-websocket-codec.js';

/**
 * The Hocuspocus wire protocol, as pure functions. Every message but the connection's
 * ping and pong starts with a routing key (the document name, or `name\0session` with the
 * provider's `sessionAwareness`), then a message type; sync, awareness and awareness
 * queries carry the y-protocols bodies y-websocket uses, so after the key the bytes are a
 * y-websocket message. The rest is Hocuspocus's own: authentication, stateless strings, a
 * provider's close, and the server's `SyncStatus` acknowledgement of each update.
 */
export const HOCUSPOCUS_MESSAGE = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3, stateless: 5, close: 7, syncStatus: 8, ping: 9, pong: 10 } as const;
/** Auth message subtypes (@hocuspocus/common). */
const AUTH = { token: 0, permissionDenied: 1, authenticated: 2 } as const;

export type HocuspocusMessage =
  /** The connection-level answer to the server's ping. */
  | { kind: 'pong' }
  /** A document's token (and the provider's version). */
  | { key: string; kind: 'auth'; token: string }
  | { key: string; kind: 'stateless'; payload: string }
  /** The provider detached from the document. */
  | { key: string; kind: 'close' }
  /** Sync, awareness or an awareness query: `body` is the y-websocket message (type and body). */
  | { key: string; kind: 'y'; body: Uint8Array };

/** Decode one message from a Hocuspocus provider. Throws YProtocolError on anything malformed or unknown. */
export function decodeHocuspocus(data: Uint8Array): HocuspocusMessage {
  if (data.length === 1 && data[0] === HOCUSPOCUS_MESSAGE.pong) return { kind: 'pong' };
  const decoder = decoding.createDecoder(data);
  return decodingOrRefuse('message', (): HocuspocusMessage => {
    const key = decoding.readVarString(decoder);
    const bodyAt = decoder.pos;
    const type = decoding.readVarUint(decoder);
    switch (type) {
      case HOCUSPOCUS_MESSAGE.sync:
      case HOCUSPOCUS_MESSAGE.awareness:
      case HOCUSPOCUS_MESSAGE.queryAwareness:
        return { key, kind: 'y', body: data.subarray(bodyAt) };
      case HOCUSPOCUS_MESSAGE.auth: {
        const sub = decoding.readVarUint(decoder);
        if (sub !== AUTH.token) throw new YProtocolError(`unexpected auth message ${sub}`);
        return { key, kind: 'auth', token: decoding.readVarString(decoder) };
      }
      case HOCUSPOCUS_MESSAGE.stateless:
        return { key, kind: 'stateless', payload: decoding.readVarString(decoder) };
      case HOCUSPOCUS_MESSAGE.close:
        return { key, kind: 'close' };
      default:
        throw new YProtocolError(`unknown message type ${type}`);
    }
  });
}

/** The routing key as it starts every message of its document. */
export const routingPrefix = (key: string): Buffer => encode((e) => encoding.writeVarString(e, key));

/** The server's connection-level ping (the provider answers with a pong; its 30 s silence timer restarts). */
export const PING = Buffer.from([HOCUSPOCUS_MESSAGE.ping]);

/** Access granted: `read-write`, or `readonly` for a token that may only read. */
export function encodeAuthenticated(prefix: Buffer, scope: 'read-write' | 'readonly'): Buffer {
  return Buffer.concat([
    prefix,
    encode((e) => {
      encoding.writeVarUint(e, HOCUSPOCUS_MESSAGE.auth);
      encoding.writeVarUint(e, AUTH.authenticated);
      encoding.writeVarString(e, scope);
    }),
  ]);
}

/** Access refused, with the reason the provider's `authenticationFailed` event carries. */
export function encodePermissionDenied(prefix: Buffer, reason: string): Buffer {
  return Buffer.concat([
    prefix,
    encode((e) => {
      encoding.writeVarUint(e, HOCUSPOCUS_MESSAGE.auth);
      encoding.writeVarUint(e, AUTH.permissionDenied);
      encoding.writeVarString(e, reason);
    }),
  ]);
}

/** Ask the provider for a fresh token (it answers with an auth message). */
export function encodeTokenRequest(prefix: Buffer): Buffer {
  return Buffer.concat([
    prefix,
    encode((e) => {
      encoding.writeVarUint(e, HOCUSPOCUS_MESSAGE.auth);
      encoding.writeVarUint(e, AUTH.token);
    }),
  ]);
}

/** The acknowledgement of one update: applied (and stored), or refused. */
export function encodeSyncStatus(prefix: Buffer, applied: boolean): Buffer {
  return Buffer.concat([
    prefix,
    encode((e) => {
      encoding.writeVarUint(e, HOCUSPOCUS_MESSAGE.syncStatus);
      encoding.writeVarInt(e, applied ? 1 : 0);
    }),
  ]);
}

const prefixed = new WeakMap<Buffer, Map<string, Buffer>>();

/**
 * A y-websocket message with a routing key in front. The same message sent to many
 * connections of one document is prefixed once per key (then framed once per key).
 */
export function withPrefix(message: Buffer, key: string, prefix: Buffer): Buffer {
  let byKey = prefixed.get(message);
  if (!byKey) {
    byKey = new Map();
    prefixed.set(message, byKey);
  }
  let out = byKey.get(key);
  if (!out) {
    out = Buffer.concat([prefix, message]);
    byKey.set(key, out);
  }
  return out;
}
