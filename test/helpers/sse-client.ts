import { request } from 'node:http';

/** One Server-Sent Event as read off the wire. */
export interface SseEvent {
  event: string;
  data: string;
}

/** A raw stream of the fallback transport, read with node:http: every event kept in order. */
export interface RawSse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  events: SseEvent[];
  /** The session id of the first event ('' when refused). */
  session: string;
  /** Server frames received so far (each `data:` line of a message event, parsed). */
  frames(): Array<Record<string, unknown>>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** The refusal body, when the status is not 200. */
  body: string;
  close(): void;
}

/** Open `GET /ws/sse` on `httpUrl`; resolves once the session event (or a refusal) arrived. */
export function openSse(httpUrl: string, headers: Record<string, string> = {}): Promise<RawSse> {
  return new Promise((resolve, reject) => {
    const req = request(`${httpUrl}/ws/sse`, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = [];
      let buffer = '';
      let body = '';
      let endedResolve: () => void = () => {};
      const ended = new Promise<void>((r) => {
        endedResolve = r;
      });
      const raw: RawSse = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        session: '',
        body: '',
        ended,
        frames: () =>
          events
            .filter((e) => e.event === 'message')
            .flatMap((e) => e.data.split('\n'))
            .map((line) => JSON.parse(line) as Record<string, unknown>),
        close: () => req.destroy(),
      };
      res.setEncoding('utf8');
      res.on('close', endedResolve);
      res.on('end', endedResolve);
      res.on('data', (chunk: string) => {
        if (raw.status !== 200) {
          body += chunk;
          raw.body = body;
          return;
        }
        buffer += chunk;
        for (let at = buffer.indexOf('\n\n'); at !== -1; at = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length === 0) continue;
          events.push({ event, data: data.join('\n') });
          if (event === 'session') {
            raw.session = (JSON.parse(data.join('\n')) as { session: string }).session;
            resolve(raw);
          }
        }
      });
      if (raw.status !== 200) res.on('end', () => resolve(raw));
    });
    req.on('error', reject);
    req.end();
  });
}

/** POST a body to a session; resolves with the status and the JSON body (if any). */
export async function postSse(
  httpUrl: string,
  session: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { error?: { code: number; message: string } } | null }> {
  const res = await fetch(`${httpUrl}/ws/sse?session=${encodeURIComponent(session)}`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as { error?: { code: number; message: string } }) : null };
}
