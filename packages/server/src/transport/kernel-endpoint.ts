import { DisconnectCode, SUBPROTOCOL_JSON } from '@switchboard/protocol';
import type { WebSocket } from 'ws';
import type { Client } from '../core/client.js';
import type { ConnectionMeta } from '../core/connection.js';
import type { Node } from '../core/node.js';
import { type Framers, WsConnection } from './ws-connection.js';

/** The path of the kernel protocol. */
export const KERNEL_PATH = '/ws';

/** The kernel agrees on its JSON subprotocol when offered, and upgrades without one otherwise. */
export const kernelSubprotocol = (offered: ReadonlySet<string>): string | false => (offered.has(SUBPROTOCOL_JSON) ? SUBPROTOCOL_JSON : false);

const CLIENT = Symbol('client');

/** A socket tagged with its client, so one set of listeners serves every connection. */
type ClientSocket = WebSocket & { [CLIENT]: Client };

/** Hand an accepted `/ws` socket to the node as a Client (its handshake deadline is the Client's). */
export function acceptKernel(node: Node, ws: WebSocket, frames: Framers, meta: ConnectionMeta): void {
  const client = node.accept(new WsConnection(ws, frames, node.wheel), meta);
  (ws as ClientSocket)[CLIENT] = client;
  ws.on('message', onMessage);
  ws.on('ping', onPing);
  ws.on('error', onError);
  ws.on('close', onClose);
}

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const client = (this as ClientSocket)[CLIENT];
  if (isBinary) {
    client.close(DisconnectCode.BadRequest, 'binary messages are not accepted');
    return;
  }
  try {
    client.handleMessage(data.toString('utf8'));
  } catch (err) {
    client.node.logger.error({ err }, 'message handling failed');
    client.close(DisconnectCode.ServerError);
  }
}

function onPing(this: WebSocket): void {
  (this as ClientSocket)[CLIENT].handleTransportPing();
}

function onError(this: WebSocket, err: Error): void {
  const client = (this as ClientSocket)[CLIENT];
  client.node.logger.debug({ err, client: client.id }, 'websocket error');
}

/** RFC 6455 §7.1.5: the connection closed without a close frame. */
const ABNORMAL_CLOSURE = 1006;

function onClose(this: WebSocket, code: number, reason: Buffer): void {
  const client = (this as ClientSocket)[CLIENT];
  if (code === ABNORMAL_CLOSURE) client.connectionLost();
  else client.cleanup(code, reason.toString('utf8'));
}
