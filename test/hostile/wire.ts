import { createHash, randomBytes } from 'node:crypto';
import { type Socket, connect as tcpConnect } from 'node:net';

/**
 * A hostile WebSocket client built on node:net: handshakes and frames are written byte by
 * byte, so a test can send what no well-behaved library would (RSV bits, reserved opcodes,
 * unmasked frames, bad lengths, split UTF-8), and read exactly what the server answers.
 */

export const Op = Object.freeze({ Continuation: 0x0, Text: 0x1, Binary: 0x2, Close: 0x8, Ping: 0x9, Pong: 0xa });

export const RSV1 = 0b100;
export const RSV2 = 0b010;
export const RSV3 = 0b001;

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  /** FIN bit; default true. */
  fin?: boolean;
  /** RSV1..3 as a 3-bit number (RSV1 = 4); default 0. */
  rsv?: number;
  /** Mask the payload (clients must); a Buffer is used as the masking key. Default true. */
  mask?: boolean | Buffer;
  /** Force a length encoding, even a non-minimal one: 7-bit, 16-bit or 64-bit. */
  lengthForm?: 7 | 16 | 64;
  /** Announce this length instead of the payload's (to lie about the size). */
  declaredLength?: number;
}

function toBuffer(payload: Buffer | string | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
}

/** Encode one WebSocket frame exactly as specified. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = toBuffer(spec.payload);
  const length = spec.declaredLength ?? payload.length;
  const form = spec.lengthForm ?? (length < 126 ? 7 : length < 65536 ? 16 : 64);
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 0b111) << 4) | (spec.opcode & 0x0f)];
  const maskBit = spec.mask === false ? 0 : 0x80;
  if (form === 7) {
    head.push(maskBit | (length & 0x7f));
  } else if (form === 16) {
    head.push(maskBit | 126, (length >> 8) & 0xff, length & 0xff);
  } else {
    head.push(maskBit | 127);
    const big = BigInt(length);
    for (let i = 7; i >= 0; i--) head.push(Number((big >> BigInt(i * 8)) & 0xffn));
  }
  if (spec.mask === false) return Buffer.concat([Buffer.from(head), payload]);
  const key = Buffer.isBuffer(spec.mask) ? spec.mask : randomBytes(4);
  const masked = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = (payload[i] as number) ^ (key[i & 3] as number);
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/** A close frame payload: 2-byte code then the reason (either may be omitted or raw bytes). */
export function closePayload(code?: number, reason: Buffer | string = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, toBuffer(reason)]);
}

/** Split a buffer into chunks of at most `size` bytes (size 0 is not allowed). */
export function chunks(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** Frames of one fragmented message: the first with `opcode`, the rest continuations, the last with FIN. */
export function fragmentFrames(opcode: number, parts: ReadonlyArray<Buffer | string>): FrameSpec[] {
  return parts.map((payload, i) => ({ opcode: i === 0 ? opcode : Op.Continuation, payload, fin: i === parts.length - 1 }));
}

export interface HandshakeOptions {
  path?: string;
  method?: string;
  host?: string;
  /** null leaves the header out. Default: a fresh random key. */
  key?: string | null;
  /** null leaves the header out. Default '13'. */
  version?: string | null;
  origin?: string;
  protocol?: string;
  extensions?: string;
  /** null leaves the header out. Default 'websocket'. */
  upgrade?: string | null;
  headers?: ReadonlyArray<[string, string]>;
}

/** The text of an HTTP/1.1 upgrade request. */
export function handshakeRequest(o: HandshakeOptions = {}): string {
  const lines = [`${o.method ?? 'GET'} ${o.path ?? '/ws'} HTTP/1.1`, `Host: ${o.host ?? '127.0.0.1'}`];
  if (o.upgrade !== null) lines.push(`Upgrade: ${o.upgrade ?? 'websocket'}`, 'Connection: Upgrade');
  const key = o.key === undefined ? randomBytes(16).toString('base64') : o.key;
  if (key !== null) lines.push(`Sec-WebSocket-Key: ${key}`);
  const version = o.version === undefined ? '13' : o.version;
  if (version !== null) lines.push(`Sec-WebSocket-Version: ${version}`);
  if (o.origin !== undefined) lines.push(`Origin: ${o.origin}`);
  if (o.protocol !== undefined) lines.push(`Sec-WebSocket-Protocol: ${o.protocol}`);
  if (o.extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${o.extensions}`);
  for (const [name, value] of o.headers ?? []) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export function acceptFor(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** One frame as the server sent it. */
export interface WireFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Incremental parser of server frames (no length limit: the tests bound what they read). */
export class FrameParser {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): WireFrame[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: WireFrame[] = [];
    for (;;) {
      const frame = this.#next();
      if (!frame) return out;
      out.push(frame);
    }
  }

  #next(): WireFrame | null {
    const b = this.#buf;
    if (b.length < 2) return null;
    const b0 = b[0] as number;
    const b1 = b[1] as number;
    let length = b1 & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return null;
      length = b.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return null;
      length = Number(b.readBigUInt64BE(2));
      offset = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    const keyAt = offset;
    if (masked) offset += 4;
    if (b.length < offset + length) return null;
    let payload = Buffer.from(b.subarray(offset, offset + length));
    if (masked) {
      const key = b.subarray(keyAt, keyAt + 4);
      payload = Buffer.from(payload.map((v, i) => v ^ (key[i & 3] as number)));
    }
    this.#buf = b.subarray(offset + length);
    return { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 0b111, opcode: b0 & 0x0f, masked, payload };
  }
}

export interface HttpResponse {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  /** Bytes after the head (the body of a refusal) received so far. */
  body: string;
}

function parseHead(text: string): HttpResponse {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: m ? Number(m[1]) : 0, statusText: m?.[2] ?? '', headers, body: '' };
}

/** A complete message from the server (fragments joined). */
export interface WireMessage {
  opcode: number;
  data: Buffer;
}

export interface CloseInfo {
  code: number | null;
  reason: Buffer;
}

export interface WireClientOptions extends HandshakeOptions {
  port: number;
  host?: string;
  /** Local address to connect from (e.g. 127.0.0.2) so per-IP limits see another client. */
  localAddress?: string;
  /** Answer a server close frame with a close frame (the RFC's echo). Default true. */
  echoClose?: boolean;
  /** Bytes to send right after the request, before the response (a pipelined first frame). */
  head?: Buffer;
  /** A label for taps (e.g. the tenant this client acts for). */
  label?: string;
  /** Answer the server's application ping (`{"push":"ping"}`) with `{"method":"pong"}`. Default false. */
  answerPings?: boolean;
}

type Tap = (client: WireClient, message: WireMessage) => void;
type Waiter = { test: () => boolean; resolve: () => void };

/**
 * One raw TCP connection to the server. `open()` sends the upgrade request and resolves
 * once the response head is in (101 or a refusal); after a 101 it parses server frames,
 * answers pings with pongs only if asked, and records everything for the test to wait on.
 */
export class WireClient {
  /** Every message received by every client goes through these (e.g. a canary scanner). */
  static readonly taps = new Set<Tap>();

  readonly socket: Socket;
  readonly frames: WireFrame[] = [];
  readonly messages: WireMessage[] = [];
  /** JSON frames of text messages, split on "\n". Non-JSON text is kept in `junk`. */
  readonly json: Array<Record<string, unknown>> = [];
  readonly junk: string[] = [];
  response: HttpResponse | null = null;
  close: CloseInfo | null = null;
  /** The TCP connection ended (FIN or reset). */
  ended = false;
  label: string;
  readonly key: string;
  #raw: Buffer = Buffer.alloc(0);
  #parser = new FrameParser();
  #fragments: Buffer[] = [];
  #fragmentOpcode = 0;
  #sentClose = false;
  #nextId = 1;
  #waiters: Waiter[] = [];
  readonly #echoClose: boolean;

  private constructor(readonly options: WireClientOptions) {
    this.label = options.label ?? '';
    this.key = options.key === undefined || options.key === null ? randomBytes(16).toString('base64') : options.key;
    this.#echoClose = options.echoClose ?? true;
    this.socket = tcpConnect({
      port: options.port,
      host: options.host ?? '127.0.0.1',
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.ended = true;
      this.#check();
    });
  }

  /** Connect and send the handshake (or raw `request` bytes); resolves when the response head arrives. */
  static async open(options: WireClientOptions, request?: string | Buffer, timeout = 5000): Promise<WireClient> {
    const client = new WireClient(options);
    await new Promise<void>((resolve, reject) => {
      client.socket.once('connect', resolve);
      client.socket.once('error', reject);
    });
    const key = options.key === undefined ? client.key : options.key;
    client.socket.write(request ?? handshakeRequest({ ...options, key }));
    if (options.head) client.socket.write(options.head);
    await client.until(() => client.response !== null || client.ended, timeout, 'HTTP response');
    return client;
  }

  get upgraded(): boolean {
    return this.response?.status === 101;
  }

  // ---- sending ----

  send(spec: FrameSpec): void {
    if (spec.opcode === Op.Close) this.#sentClose = true;
    this.socket.write(encodeFrame(spec));
  }

  sendAll(specs: readonly FrameSpec[]): void {
    this.socket.write(
      Buffer.concat(
        specs.map((s) => {
          if (s.opcode === Op.Close) this.#sentClose = true;
          return encodeFrame(s);
        }),
      ),
    );
  }

  sendRaw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  text(payload: Buffer | string): void {
    this.send({ opcode: Op.Text, payload });
  }

  /** Send a command frame; returns its id (or the one given). */
  command(method: string, params?: unknown, id?: unknown): number {
    const useId = id ?? this.#nextId++;
    this.text(JSON.stringify({ id: useId, method, ...(params !== undefined ? { params } : {}) }));
    return typeof useId === 'number' ? useId : -1;
  }

  /** Send a command and wait for its reply. */
  async call(method: string, params?: unknown, timeout = 5000): Promise<Record<string, unknown>> {
    const id = this.command(method, params);
    return this.reply(id, timeout);
  }

  async reply(id: number, timeout = 5000): Promise<Record<string, unknown>> {
    return this.waitJson((f) => f['id'] === id, timeout);
  }

  // ---- waiting ----

  async waitJson(match: (f: Record<string, unknown>) => boolean, timeout = 5000, from = 0): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await this.until(
      () => {
        found = this.json.slice(from).find(match);
        return found !== undefined;
      },
      timeout,
      'JSON frame',
    );
    return found as Record<string, unknown>;
  }

  async waitFrame(match: (f: WireFrame) => boolean, timeout = 5000): Promise<WireFrame> {
    let found: WireFrame | undefined;
    await this.until(
      () => {
        found = this.frames.find(match);
        return found !== undefined;
      },
      timeout,
      'frame',
    );
    return found as WireFrame;
  }

  /** Wait for the server's close frame; resolves with its code (null for an empty close payload). */
  async waitClose(timeout = 5000): Promise<CloseInfo> {
    await this.until(() => this.close !== null, timeout, 'close frame');
    return this.close as CloseInfo;
  }

  /** Wait for the TCP connection to end. */
  async waitEnd(timeout = 5000): Promise<void> {
    await this.until(() => this.ended, timeout, 'end of connection');
  }

  until(test: () => boolean, timeout: number, what: string): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        const last = this.json.slice(-3);
        reject(
          new Error(
            `timed out after ${timeout}ms waiting for ${what}; status ${this.response?.status} close ${this.close?.code} ended ${this.ended} last ${JSON.stringify(last)}`,
          ),
        );
      }, timeout);
      this.#waiters.push(waiter);
    });
  }

  // ---- flow control ----

  /** Stop reading: the kernel buffers fill and the server sees backpressure. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---- receiving ----

  #onData(chunk: Buffer): void {
    if (this.response === null) {
      this.#raw = Buffer.concat([this.#raw, chunk]);
      const end = this.#raw.indexOf('\r\n\r\n');
      if (end === -1) return;
      this.response = parseHead(this.#raw.subarray(0, end).toString('latin1'));
      const rest = this.#raw.subarray(end + 4);
      this.#raw = Buffer.alloc(0);
      if (this.response.status !== 101) {
        this.response.body = rest.toString('utf8');
      } else if (rest.length > 0) {
        this.#onFrames(rest);
      }
      this.#check();
      return;
    }
    if (this.response.status !== 101) {
      this.response.body += chunk.toString('utf8');
      return;
    }
    this.#onFrames(chunk);
  }

  #onFrames(chunk: Buffer): void {
    for (const frame of this.#parser.push(chunk)) {
      this.frames.push(frame);
      this.#onFrame(frame);
    }
    this.#check();
  }

  #onFrame(frame: WireFrame): void {
    if (frame.opcode >= 0x8) for (const tap of WireClient.taps) tap(this, { opcode: frame.opcode, data: frame.payload });
    if (frame.opcode === Op.Close) {
      const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : null;
      this.close = { code, reason: frame.payload.subarray(2) };
      if (this.#echoClose && !this.#sentClose && !this.socket.destroyed) {
        this.#sentClose = true;
        this.socket.write(encodeFrame({ opcode: Op.Close, payload: code === null ? '' : closePayload(code) }));
      }
      return;
    }
    if (frame.opcode >= 0x8) return; // pings and pongs are in `frames`
    if (frame.opcode !== Op.Continuation) this.#fragmentOpcode = frame.opcode;
    this.#fragments.push(frame.payload);
    if (!frame.fin) return;
    const message: WireMessage = { opcode: this.#fragmentOpcode, data: Buffer.concat(this.#fragments) };
    this.#fragments = [];
    this.messages.push(message);
    for (const tap of WireClient.taps) tap(this, message);
    if (message.opcode !== Op.Text) return;
    for (const line of message.data.toString('utf8').split('\n')) {
      if (line.length === 0) continue;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        this.junk.push(line);
        continue;
      }
      this.json.push(parsed);
      if (this.options.answerPings && parsed['push'] === 'ping' && !this.#sentClose) this.text('{"method":"pong"}');
    }
  }

  #check(): void {
    const ready = this.#waiters.filter((w) => w.test());
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }
}
