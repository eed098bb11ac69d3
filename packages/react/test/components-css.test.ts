import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');
const components = join(root, 'packages', 'react', 'src', 'components');

describe('the components’ CSS variables', () => {
  it('are each documented in docs/react.md with the default the code uses, and the table names no other', () => {
    const used = new Map<string, string>();
    for (const file of readdirSync(components)) {
      const text = readFileSync(join(components, file), 'utf8');
      for (const m of text.matchAll(/var\((--sb-[a-z-]+), ([^)]*?)\)/g)) used.set(m[1] as string, m[2] as string);
    }
    const doc = readFileSync(join(root, 'docs', 'react.md'), 'utf8');
    const table = doc.slice(doc.indexOf('### CSS variables'));
    const documented = new Map([...table.matchAll(/^\| `(--sb-[a-z-]+)` \| \w+ \| ([^|]+) \|$/gm)].map((m) => [m[1] as string, (m[2] as string).trim()]));
    expect(used.size).toBeGreaterThan(0);
    expect([...documented.keys()].sort()).toEqual([...used.keys()].sort());
    for (const [name, fallback] of used) {
      // The cursor colour's default is computed per user.
      if (fallback.startsWith('hsl(')) expect(documented.get(name), name).toMatch(/hue per user/);
      else expect(documented.get(name), name).toMatch(new RegExp(`^\`${fallback.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\``));
    }
  });
});
