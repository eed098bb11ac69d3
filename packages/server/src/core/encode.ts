import type { ChannelEvent, HistoryPage, StreamPublication } from '../engine/broker.js';

/**
 * Encoders that splice the stored JSON text of payloads into frames, so a payload is
 * serialised once when published and never per recipient.
 */

/** `{"offset":…,"time":…,"info":…,"data":…}` */
export function publicationJson(pub: StreamPublication): string {
  return `{"offset":${pub.offset},"time":${pub.time}${extras(pub)},"data":${pub.data}}`;
}

/** The optional fields of a publication: `,"info":…` and `,"tags":…` when it has them. */
function extras(pub: StreamPublication): string {
  const info = pub.info ? `,"info":${JSON.stringify(pub.info)}` : '';
  return pub.tags ? `${info},"tags":${JSON.stringify(pub.tags)}` : info;
}

/** `{"push":"pub",…}` with the stored data, or other `data` JSON (a delta subscriber's string, `delta` when it is a delta). */
export function publicationPush(channel: string, pub: StreamPublication, epoch: string, data = pub.data, delta = false): Buffer {
  return Buffer.from(
    `{"push":"pub","channel":${JSON.stringify(channel)},"offset":${pub.offset},"epoch":${JSON.stringify(epoch)},"time":${pub.time}${extras(pub)}${delta ? ',"delta":true' : ''},"data":${data}}`,
  );
}

/** `{"push":"unsubscribe",…}`: the server removed a subscription, with the code saying why. */
export function unsubscribePush(channel: string, code: number, reason: string): Buffer {
  return Buffer.from(JSON.stringify({ push: 'unsubscribe', channel, code, reason }));
}

export function eventPush(channel: string, event: ChannelEvent): Buffer {
  const ch = JSON.stringify(channel);
  if (event.kind === 'signal') {
    return Buffer.from(`{"push":"signal","channel":${ch},"from":${JSON.stringify(event.from)},"key":${JSON.stringify(event.key)},"data":${event.data}}`);
  }
  return Buffer.from(`{"push":"${event.kind}","channel":${ch},"user":${JSON.stringify(event.user)},"device":${JSON.stringify(event.device)}}`);
}

/** A result whose JSON text is already built (it contains stored payload text). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** `{"publications":[…],"epoch":…,"offset":…}` — a history page with stored payloads spliced in. */
export function historyPageJson(page: HistoryPage): RawJson {
  return new RawJson(`{"publications":[${page.publications.map(publicationJson).join(',')}],"epoch":${JSON.stringify(page.epoch)},"offset":${page.offset}}`);
}

export function replyFrame(id: number, result: unknown): Buffer {
  const text = result instanceof RawJson ? result.text : JSON.stringify(result ?? {});
  return Buffer.from(`{"id":${id},"result":${text}}`);
}

export function errorFrame(id: number, error: { toWire(): unknown }): Buffer {
  return Buffer.from(JSON.stringify({ id, error: error.toWire() }));
}

export const PING_FRAME = Buffer.from('{"push":"ping"}');
