import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DisconnectCode, DocumentCloseCode, documentShouldReconnect, ErrorCode, shouldReconnect } from '@switchboard/protocol';
import { builtinFeatures, SB_ERRORS } from '@switchboard/server';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

/** Rows `| a | b | c | d |` of the markdown table that follows a heading. */
function tableAfter(doc: string, heading: string): string[][] {
  const start = doc.indexOf(heading);
  expect(start, heading).toBeGreaterThan(-1);
  const rows: string[][] = [];
  for (const line of doc.slice(start).split('\n').slice(1)) {
    if (line.startsWith('## ')) break;
    if (!line.startsWith('|') || line.startsWith('|---') || line.startsWith('| code')) continue;
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

describe('docs agree with the code', () => {
  const protocol = read('docs/protocol.md');

  it('lists every reply error code in docs/protocol.md with its name, flag and message', () => {
    const rows = tableAfter(protocol, '## Reply error codes');
    const expected = Object.entries(ErrorCode).map(([name, e]) => [String(e.code), name, String(e.temporary), e.message]);
    expect(rows).toEqual(expected);
  });

  it('lists every close code in docs/protocol.md with its name, reconnect rule and reason', () => {
    const rows = tableAfter(protocol, '## Close codes');
    const expected = Object.entries(DisconnectCode).map(([name, d]) => [String(d.code), name, shouldReconnect(d.code) ? 'yes' : 'no', d.reason]);
    expect(rows).toEqual(expected);
  });

  it('lists every close code of the documents endpoint in docs/protocol.md with its name, reconnect rule and reason', () => {
    const rows = tableAfter(protocol, '## Documents endpoint close codes');
    const expected = Object.entries(DocumentCloseCode).map(([name, d]) => [String(d.code), name, documentShouldReconnect(d.code) ? 'yes' : 'no', d.reason]);
    expect(rows).toEqual(expected);
  });

  it('lists every SB_ERR code in docs/errors.md', () => {
    const rows = tableAfter(read('docs/errors.md'), '3. **Programmer');
    expect(rows.map((r) => r[0]).sort()).toEqual(Object.keys(SB_ERRORS).sort());
  });
});

describe('docs/webhooks.md agrees with the catalogue', () => {
  it('lists every event type of the built-in features in its Events table', () => {
    const documented = tableAfter(read('docs/webhooks.md'), '## Events')
      .map((r) => (r[0] ?? '').replace(/`/g, ''))
      .filter((t) => t !== 'type');
    const types = builtinFeatures().flatMap((f) => (f.events ?? []).map((e) => e.type));
    expect(documented.sort()).toEqual(types.sort());
  });
});

describe('README agrees with the code', () => {
  it('documents every configuration option with its flag and environment variable', async () => {
    const { listOptions } = await import('@switchboard/server/testing');
    const readme = read('README.md');
    const missing = listOptions()
      .filter((o) => !readme.includes(`| \`${o.key}\` | \`${o.flag}\` | \`${o.env}\` |`))
      .map((o) => o.key);
    expect(missing).toEqual([]);
  });
});
