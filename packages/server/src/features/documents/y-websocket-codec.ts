import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

/**
 * The y-websocket wire protocol (y-protocols' sync, awareness and auth messages), as pure
 * functions: what a provider sends, decoded and bounded, and what the server sends, encoded.
 * Every message is one binary WebSocket message: a varuint type, then its body.
 */
export const Y_MESSAGE = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const;
/** Sync message subtypes (y-protocols/sync). */
const SYNC = { step1: 0, step2: 1, update: 2 } as const;
/** y-protocols/auth: the only auth message, sent by the server. */
const PERMISSION_DENIED = 0;

export type YMessage =
  /** The sender's state vector: answer with what it lacks (sync step 2). */
  | { kind: 'sync-step1'; stateVector: Uint8Array }
  /** What the receiver lacked (an answer to step 1): apply it. */
  | { kind: 'sync-step2'; update: Uint8Array }
  /** A change made since: apply it. */
  | { kind: 'update'; update: Uint8Array }
  /** Awareness states (y-protocols/awareness encoding). */
  | { kind: 'awareness'; update: Uint8Array }
  /** Asks for every awareness state. */
  | { kind: 'query-awareness' };

/** A message that is not valid y-websocket: the connection is closed as invalid. */
export class YProtocolError extends Error {}

/** Run a decoder over untrusted bytes: whatever it throws (a read past the end, bad UTF-8) becomes YProtocolError. */
export function decodingOrRefuse<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof YProtocolError) throw err;
    throw new YProtocolError(`malformed ${what}: ${(err as Error).message}`);
  }
}

/** Decode one message from a provider. Throws YProtocolError on anything malformed, truncated or unknown. */
export function decodeYMessage(data: Uint8Array): YMessage {
  const decoder = decoding.createDecoder(data);
  return decodingOrRefuse('message', () => {
    const type = decoding.readVarUint(decoder);
    let message: YMessage;
    switch (type) {
      case Y_MESSAGE.sync: {
        const sub = decoding.readVarUint(decoder);
        const body = decoding.readVarUint8Array(decoder);
        if (sub === SYNC.step1) message = { kind: 'sync-step1', stateVector: body };
        else if (sub === SYNC.step2) message = { kind: 'sync-step2', update: body };
        else if (sub === SYNC.update) message = { kind: 'update', update: body };
        else throw new YProtocolError(`unknown sync message ${sub}`);
        break;
      }
      case Y_MESSAGE.awareness:
        message = { kind: 'awareness', update: decoding.readVarUint8Array(decoder) };
        break;
      case Y_MESSAGE.queryAwareness:
        message = { kind: 'query-awareness' };
        break;
      default:
        throw new YProtocolError(`unknown message type ${type}`);
    }
    return message;
  });
}

/** One message built with a lib0 encoder, as a Buffer over the same bytes. */
export function encode(write: (encoder: encoding.Encoder) => void): Buffer {
  const encoder = encoding.createEncoder();
  write(encoder);
  const bytes = encoding.toUint8Array(encoder);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function syncMessage(sub: number, body: Uint8Array): Buffer {
  return encode((e) => {
    encoding.writeVarUint(e, Y_MESSAGE.sync);
    encoding.writeVarUint(e, sub);
    encoding.writeVarUint8Array(e, body);
  });
}

/** Sync step 1: the server's state vector (the provider answers with what the server lacks). */
export const encodeSyncStep1 = (stateVector: Uint8Array): Buffer => syncMessage(SYNC.step1, stateVector);
/** Sync step 2: what the provider lacked, as one Yjs update. */
export const encodeSyncStep2 = (update: Uint8Array): Buffer => syncMessage(SYNC.step2, update);
/** A document change to relay. */
export const encodeUpdate = (update: Uint8Array): Buffer => syncMessage(SYNC.update, update);

/** Awareness states to relay. */
export function encodeAwareness(update: Uint8Array): Buffer {
  return encode((e) => {
    encoding.writeVarUint(e, Y_MESSAGE.awareness);
    encoding.writeVarUint8Array(e, update);
  });
}

/** "Permission denied" (y-protocols/auth): the provider logs it; what it sent was not applied. */
export function encodePermissionDenied(reason: string): Buffer {
  return encode((e) => {
    encoding.writeVarUint(e, Y_MESSAGE.auth);
    encoding.writeVarUint(e, PERMISSION_DENIED);
    encoding.writeVarString(e, reason);
  });
}

/** One client's entry in an awareness update. */
export interface AwarenessEntry {
  clientId: number;
  clock: number;
  /** The state as JSON text; 'null' removes the client. */
  state: string;
}

/**
 * Decode an awareness update (varuint count, then per client: id, clock, JSON state),
 * checking every state parses as JSON. Throws YProtocolError otherwise.
 */
/** An awareness update (the y-protocols encoding) of these entries. */
export function encodeAwarenessEntries(entries: readonly AwarenessEntry[]): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, entries.length);
  for (const e of entries) {
    encoding.writeVarUint(encoder, e.clientId);
    encoding.writeVarUint(encoder, e.clock);
    encoding.writeVarString(encoder, e.state);
  }
  return encoding.toUint8Array(encoder);
}

export function decodeAwareness(update: Uint8Array, maxEntries: number): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update);
  return decodingOrRefuse('awareness update', () => {
    const count = decoding.readVarUint(decoder);
    if (count > maxEntries) throw new YProtocolError(`awareness update with ${count} clients (at most ${maxEntries})`);
    const entries: AwarenessEntry[] = [];
    for (let i = 0; i < count; i++) {
      const clientId = decoding.readVarUint(decoder);
      const clock = decoding.readVarUint(decoder);
      const state = decoding.readVarString(decoder);
      JSON.parse(state);
      entries.push({ clientId, clock, state });
    }
    if (decoding.hasContent(decoder)) throw new YProtocolError('trailing bytes after the awareness update');
    return entries;
  });
}

/** An awareness update naming no client: changes nothing, and tells the provider the connection is alive. */
export const Y_KEEPALIVE = encodeAwareness(Uint8Array.of(0));
