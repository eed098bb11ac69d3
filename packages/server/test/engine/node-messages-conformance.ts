/**
 * Conformance suite for NodeMessages: what every implementation does on one node (memory,
 * Redis). What only several nodes show (messages to another node, departures) is tested
 * with the implementations that have several nodes. Absence of a delivery is proven by a
 * later sentinel from the same sender (delivery is in order).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NodeMessages } from '../../src/engine/node-messages.js';

export type NodeMessagesFactory = () => Promise<{ messages: NodeMessages; cleanup(): Promise<void> }>;

const WAIT = { timeout: 5_000, interval: 5 };
const RUN = randomBytes(4).toString('hex');
let seq = 0;
const freshOp = (name = 'op') => `test${RUN}.${name}${++seq}`;

/** JSON values that must come back equal. */
const DATA: unknown[] = [
  { text: 'héllo — ✓ 😀 漢字', nested: { list: [1, 2.5, -3, null, true, false], empty: {} } },
  'a string',
  42,
  null,
  [],
  JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
  { line: 'a\nb', sep: '\u2028\u2029', nul: '\u0000' },
];

export function describeNodeMessagesConformance(name: string, make: NodeMessagesFactory): void {
  describe(`NodeMessages conformance: ${name}`, () => {
    let messages: NodeMessages;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ messages, cleanup } = await make());
    });

    afterEach(async () => {
      await cleanup();
    });

    it('has a node id', () => {
      expect(messages.nodeId).toMatch(/\S/);
    });

    it("delivers a broadcast to this node's handler with the data intact and this node as sender", async () => {
      const op = freshOp();
      const got: Array<[unknown, string]> = [];
      messages.onNotification(op, (data, from) => {
        got.push([data, from]);
      });
      for (const d of DATA) await messages.notify(op, d);
      await vi.waitFor(() => expect(got).toHaveLength(DATA.length), WAIT);
      expect(got.map(([d]) => d)).toEqual(DATA.map((d) => JSON.parse(JSON.stringify(d))));
      expect(new Set(got.map(([, from]) => from))).toEqual(new Set([messages.nodeId]));
      expect(Object.prototype).not.toHaveProperty('polluted');
    });

    it('sends undefined as null', async () => {
      const op = freshOp();
      const got: unknown[] = [];
      messages.onNotification(op, (data) => {
        got.push(data);
      });
      await messages.notify(op, undefined);
      await vi.waitFor(() => expect(got).toEqual([null]), WAIT);
    });

    it('delivers in the order sent', async () => {
      const op = freshOp();
      const got: number[] = [];
      messages.onNotification(op, (data) => {
        got.push(data as number);
      });
      await Promise.all(Array.from({ length: 50 }, (_, i) => messages.notify(op, i)));
      await vi.waitFor(() => expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i)), WAIT);
    });

    it('delivers a message to this node by id, and not one to another node', async () => {
      const op = freshOp();
      const got: unknown[] = [];
      messages.onNotification(op, (data) => {
        got.push(data);
      });
      await messages.notify(op, 'elsewhere', `no-such-node-${RUN}`);
      await messages.notify(op, 'here', messages.nodeId);
      await vi.waitFor(() => expect(got).toEqual(['here']), WAIT);
    });

    it('keeps operations apart, also ones that share a prefix', async () => {
      const op = freshOp('lock');
      const [a, b] = [[] as unknown[], [] as unknown[]];
      messages.onNotification(op, (data) => {
        a.push(data);
      });
      messages.onNotification(`${op}s`, (data) => {
        b.push(data);
      });
      await messages.notify(`${op}s`, 'to b');
      await messages.notify(op, 'to a');
      await vi.waitFor(() => expect(a).toEqual(['to a']), WAIT);
      expect(b).toEqual(['to b']);
    });

    it('runs every handler of an operation in registration order; one that throws or rejects stops none', async () => {
      const op = freshOp();
      const calls: string[] = [];
      messages.onNotification(op, () => {
        calls.push('first');
        throw new Error('handler failure (expected)');
      });
      messages.onNotification(op, async () => {
        calls.push('second');
        throw new Error('async handler failure (expected)');
      });
      messages.onNotification(op, () => {
        calls.push('third');
      });
      await messages.notify(op, 1);
      await vi.waitFor(() => expect(calls).toEqual(['first', 'second', 'third']), WAIT);
    });

    it('stops delivering to a handler once unsubscribed', async () => {
      const op = freshOp();
      const [gone, kept] = [[] as unknown[], [] as unknown[]];
      const off = messages.onNotification(op, (data) => {
        gone.push(data);
      });
      messages.onNotification(op, (data) => {
        kept.push(data);
      });
      await messages.notify(op, 1);
      await vi.waitFor(() => expect(gone).toEqual([1]), WAIT);
      off();
      await messages.notify(op, 2);
      await vi.waitFor(() => expect(kept).toEqual([1, 2]), WAIT);
      expect(gone).toEqual([1]);
    });

    it('does not report this node down while it runs', async () => {
      const down: string[] = [];
      messages.onNodeDown((node) => {
        down.push(node);
      });
      const op = freshOp();
      const got: unknown[] = [];
      messages.onNotification(op, (data) => {
        got.push(data);
      });
      await messages.notify(op, 'sentinel');
      await vi.waitFor(() => expect(got).toEqual(['sentinel']), WAIT);
      expect(down).not.toContain(messages.nodeId);
    });
  });
}
