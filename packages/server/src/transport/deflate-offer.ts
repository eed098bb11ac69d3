/**
 * permessage-deflate negotiation (RFC 7692 §5, §7.1). The server picks the first offer it can
 * accept and answers it with the parameters its sender needs: context takeover unless the
 * client asked for `server_no_context_takeover` or shared streams are off (then every
 * compressed message it sends is independent), `client_no_context_takeover` always (a server
 * may add it unasked, §7.1.1.2), and a small `client_max_window_bits` when the client lets the
 * server choose one (§7.1.2.2), which bounds what inflating a client's messages holds per
 * connection. Context takeover costs the server nothing per socket: its messages come from
 * shared streams (ws-deflate-streams.ts) and it keeps no zlib state per connection.
 * An offer with an unknown, repeated or invalid parameter is declined (§5.1), never refused:
 * the connection goes on uncompressed.
 */

export const DEFLATE_EXTENSION = 'permessage-deflate';

/** The largest LZ77 window a client may use when it lets the server choose: 2^10 bytes. */
export const CLIENT_WINDOW_BITS = 10;

/** The window the server compresses with; an offer that limits it below this is declined. */
export const SERVER_WINDOW_BITS = 15;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const WINDOW_BITS = /^(?:[89]|1[0-5])$/;
const NO_VALUE: unique symbol = Symbol('no value');

type Params = Map<string, string | typeof NO_VALUE>;

/** One extension offer `name; a; b=1`, or null when malformed. */
function parseElement(element: string): { name: string; params: Params } | null {
  const parts = element.split(';').map((p) => p.trim());
  const name = parts[0] as string;
  if (!TOKEN.test(name)) return null;
  const params: Params = new Map();
  for (const part of parts.slice(1)) {
    const eq = part.indexOf('=');
    const key = (eq === -1 ? part : part.slice(0, eq)).trim();
    let value: string | typeof NO_VALUE = NO_VALUE;
    if (eq !== -1) {
      value = part.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (!TOKEN.test(value)) return null;
    }
    if (!TOKEN.test(key) || params.has(key)) return null;
    params.set(key, value);
  }
  return { name, params };
}

/** The answer to one permessage-deflate offer, or null when it must be declined. */
function answer(params: Params, contextTakeover: boolean): string | null {
  const out = [DEFLATE_EXTENSION];
  if (!contextTakeover || params.has('server_no_context_takeover')) out.push('server_no_context_takeover');
  out.push('client_no_context_takeover');
  for (const [key, value] of params) {
    switch (key) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== NO_VALUE) return null;
        break;
      case 'server_max_window_bits':
        if (value === NO_VALUE || !WINDOW_BITS.test(value) || Number(value) < SERVER_WINDOW_BITS) return null;
        out.push(`server_max_window_bits=${SERVER_WINDOW_BITS}`);
        break;
      case 'client_max_window_bits':
        if (value !== NO_VALUE && !WINDOW_BITS.test(value)) return null;
        out.push(`client_max_window_bits=${value === NO_VALUE ? CLIENT_WINDOW_BITS : Math.min(Number(value), CLIENT_WINDOW_BITS)}`);
        break;
      default:
        return null;
    }
  }
  return out.join('; ');
}

/**
 * The permessage-deflate answer to a `Sec-WebSocket-Extensions` request header, or null when
 * no offer in it can be accepted (or there is none). Other extensions are ignored.
 * `contextTakeover`: the server may keep its compression context between messages.
 */
export function negotiateDeflate(header: string | undefined, contextTakeover = true): string | null {
  if (header === undefined) return null;
  for (const element of header.split(',')) {
    const offer = parseElement(element);
    if (offer?.name.toLowerCase() !== DEFLATE_EXTENSION) continue;
    const accepted = answer(offer.params, contextTakeover);
    if (accepted !== null) return accepted;
  }
  return null;
}
