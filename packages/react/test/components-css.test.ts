import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');
const components = join(root, 'packages', 'react', 'src', 'components');
/** The components' default look (`@switchboard/react/styles.css`). */
const stylesheet = readFileSync(join(root, 'packages', 'react', 'styles.css'), 'utf8');
/** The components' code, every file of it. */
const code = readdirSync(components).map((file) => readFileSync(join(components, file), 'utf8'));

describe('the components’ CSS variables', () => {
  it('are each documented in docs/react.md with the default the stylesheet or the code uses, and the table names no other', () => {
    const used = new Map<string, string>();
    for (const text of [stylesheet, ...code]) {
      for (const m of text.matchAll(/var\((--sb-[a-z-]+), ([^)]*?)\)/g)) {
        // One default per variable, wherever it is used.
        expect(used.get(m[1] as string) ?? m[2], m[1]).toBe(m[2]);
        used.set(m[1] as string, m[2] as string);
      }
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

  it('are set by the stylesheet on class names the components render, each rule of no weight (:where) so an app’s own rules win', () => {
    const rendered = code.join('\n');
    const classes = new Set([...stylesheet.matchAll(/\.(sb-[a-z-]+)/g)].map((m) => m[1] as string));
    expect(classes.size).toBeGreaterThan(0);
    for (const c of classes) expect(rendered, c).toMatch(new RegExp(`'${c}'|'${c} |'[a-z- ]* ${c}'`));
    const selectors = [...stylesheet.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/([^{}]+)\{/g)].map((m) => (m[1] as string).trim());
    expect(selectors.length).toBeGreaterThan(0);
    for (const s of selectors) expect(s).toMatch(/^:where\(.*\)$/);
  });
});
