/**
 * A worker's share of the documents scenario: its light editors of the one document, and the
 * clients that join it after the edits. Lives beside the worker's ConnectionSet.
 */
import { Histogram } from './histogram.js';
import type { CountersReply, EditorsOpenReply, EditorsOpenRequest, EditReply, EditRequest, JoinReply, JoinRequest } from './ipc.js';
import { type Editor, openLightEditor, Receipts, runEditors } from './light-editor.js';
import { nowUs } from './proc.js';
import { closeSyncClients, openSyncClient } from './sync-client.js';
import { mintToken } from './token.js';
import { scanMarkers } from './yjs-wire.js';

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0] as string;

export class EditorSet {
  #editors: Editor[] = [];
  readonly #receipts = new Receipts();
  readonly #lost: Record<string, number> = {};
  #failed = 0;
  #closing = false;

  async open(req: EditorsOpenRequest): Promise<EditorsOpenReply> {
    const { target } = req;
    const latency = new Histogram();
    const errors: string[] = [];
    const opened: Editor[] = [];
    let next = 0;
    const one = async (id: number): Promise<void> => {
      const t0 = nowUs();
      try {
        const token = await mintToken(target.secret, { sub: `e${id}`, tenant: target.tenant, caps: req.caps, ttlSeconds: target.tokenTtlSeconds });
        const editor = await openLightEditor({ wire: 'y-websocket', url: req.url, doc: req.doc, token }, id, this.#receipts.onMessage, {
          ...(req.addresses.length ? { localAddress: req.addresses[id % req.addresses.length] } : {}),
          timeoutMs: req.timeoutMs,
          onClose: (_e, code) => {
            if (!this.#closing) this.#lost[code] = (this.#lost[code] ?? 0) + 1;
          },
        });
        latency.record(nowUs() - t0);
        opened.push(editor);
      } catch (err) {
        this.#failed++;
        if (errors.length < 5) errors.push(`editor ${id}: ${firstLine(err)}`);
      }
    };
    const lane = async (): Promise<void> => {
      while (next < req.ids.length) await one(req.ids[next++] as number);
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency, req.ids.length)) }, lane));
    this.#editors = [...this.#editors, ...opened].sort((a, b) => a.id - b.id);
    return { type: 'editors-opened', ok: opened.length, failed: req.ids.length - opened.length, errors, latency: latency.data() };
  }

  async edit(req: EditRequest): Promise<EditReply> {
    const outcome = await runEditors(this.#editors, this.#receipts, req);
    return { type: 'edited', ...outcome, lost: { ...this.#lost } };
  }

  /** Every joiner opens the document at once; each is timed to its sync step 2, whose markers it counts. */
  async join(req: JoinRequest): Promise<JoinReply> {
    const { target } = req;
    const tokens = await Promise.all(
      Array.from({ length: req.count }, (_, i) =>
        mintToken(target.secret, { sub: `j${req.base + i}`, tenant: target.tenant, caps: req.caps, ttlSeconds: target.tokenTtlSeconds }),
      ),
    );
    const clients = tokens.map((token, i) =>
      openSyncClient(
        { wire: 'y-websocket', url: req.url, doc: req.doc, token },
        {
          ...(req.addresses.length ? { localAddress: req.addresses[(req.base + i) % req.addresses.length] } : {}),
          timeoutMs: req.timeoutMs,
          label: `joiner ${req.base + i}`,
        },
      ),
    );
    const latency = new Histogram();
    const markers: number[] = [];
    const errors: string[] = [];
    let maxBytes = 0;
    const outcomes = await Promise.allSettled(clients.map((c) => c.synced));
    for (const o of outcomes) {
      if (o.status === 'rejected') {
        if (errors.length < 5) errors.push(firstLine(o.reason));
        continue;
      }
      latency.record(o.value.us);
      maxBytes = Math.max(maxBytes, o.value.bytes);
      let n = 0;
      scanMarkers(o.value.step2, () => n++);
      markers.push(n);
    }
    await closeSyncClients(clients);
    return { type: 'joined', ok: markers.length, failed: req.count - markers.length, errors, latency: latency.data(), maxBytes, markers };
  }

  /** The worker's live counters with its editors' added: open editors, updates received, measured ones and their recent latencies. */
  addTo(c: CountersReply): CountersReply {
    if (this.#editors.length === 0 && this.#failed === 0) return c;
    const recent = Histogram.merge([c.recent, this.#receipts.recent.data()]);
    this.#receipts.recent.reset();
    return {
      ...c,
      open: c.open + this.#editors.length,
      failed: c.failed + this.#failed,
      received: c.received + this.#editors.reduce((a, e) => a + e.received, 0),
      measured: c.measured + this.#receipts.measured,
      recent: recent.data(),
    };
  }

  close(): void {
    this.#closing = true;
    for (const e of this.#editors) e.close();
    this.#editors = [];
  }
}
