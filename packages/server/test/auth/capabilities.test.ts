import { describe, expect, it } from 'vitest';
import { allows, CAPABILITY_ACTIONS, type CapabilityAction, compilePattern, parseCapabilities, parseCapabilityFlag } from '../../src/auth/capabilities.js';

const rules = (claim: unknown) => {
  const parsed = parseCapabilities(claim);
  if (!parsed) throw new Error('claim unexpectedly refused');
  return parsed;
};

describe('compilePattern', () => {
  it('matches a literal pattern exactly and nothing else', () => {
    const re = compilePattern('chat:lobby');
    expect(re.test('chat:lobby')).toBe(true);
    expect(re.test('chat:lobby2')).toBe(false);
    expect(re.test('xchat:lobby')).toBe(false);
    expect(re.test('chat:Lobby')).toBe(false);
  });

  it('lets * match any run of characters, including none', () => {
    const re = compilePattern('project:*');
    expect(['project:1', 'project:a:b:c', 'project:'].map((c) => re.test(c))).toEqual([true, true, true]);
    expect(['project', 'projectx:1', 'chat:project:1'].map((c) => re.test(c))).toEqual([false, false, false]);
  });

  it('supports * in the middle and several *', () => {
    const re = compilePattern('project:*:tasks:*');
    expect(re.test('project:42:tasks:7')).toBe(true);
    expect(re.test('project:42:docs:7')).toBe(false);
    expect(compilePattern('*').test('anything:at:all')).toBe(true);
    expect(compilePattern('*').test('')).toBe(true);
  });

  it('treats dots and other regular-expression characters literally', () => {
    expect(compilePattern('chat.room').test('chat.room')).toBe(true);
    expect(compilePattern('chat.room').test('chatXroom')).toBe(false);
    const specials = 'a+b?c^d$e{1}(f)|g[h]\\i';
    expect(compilePattern(specials).test(specials)).toBe(true);
    expect(compilePattern('a+').test('aa')).toBe(false);
    expect(compilePattern('a|b').test('a')).toBe(false);
    expect(compilePattern('(x)').test('x')).toBe(false);
    expect(compilePattern('[ab]').test('a')).toBe(false);
    expect(compilePattern('x{2}').test('xx')).toBe(false);
  });

  it('anchors at both ends even across newlines', () => {
    expect(compilePattern('a*').test('ab\nc')).toBe(true);
    expect(compilePattern('chat:x').test('chat:x\n')).toBe(false);
    expect(compilePattern('chat:x').test('evil\nchat:x')).toBe(false);
  });
});

describe('parseCapabilities', () => {
  it('returns no rules when the claim is absent', () => {
    expect(parseCapabilities(undefined)).toEqual([]);
  });

  it('parses patterns and their actions', () => {
    const parsed = rules({ 'project:*': ['subscribe', 'publish'], 'chat:lobby': ['subscribe', 'subscribe'] });
    expect(parsed.map((r) => [r.pattern, [...r.actions].sort()])).toEqual([
      ['project:*', ['publish', 'subscribe']],
      ['chat:lobby', ['subscribe']],
    ]);
  });

  it('accepts every known action and an empty action list', () => {
    const parsed = rules({ 'a:*': [...CAPABILITY_ACTIONS], 'b:*': [] });
    expect([...(parsed[0]?.actions ?? [])].sort()).toEqual(['comment', 'history', 'ingest', 'lock', 'presence', 'publish', 'signal', 'subscribe', 'unlock']);
    expect(parsed[1]?.actions.size).toBe(0);
  });

  it.each([
    ['null', null],
    ['an array', [['project:*', ['subscribe']]]],
    ['a string', 'project:*=subscribe'],
    ['a number', 7],
    ['actions not an array', { 'project:*': 'subscribe' }],
    ['an unknown action', { 'project:*': ['subscribe', 'admin'] }],
    ['an action that is not a string', { 'project:*': [1] }],
    ['an action differing only in case', { 'project:*': ['Subscribe'] }],
    ['an empty pattern', { '': ['subscribe'] }],
    ['a pattern over 512 characters', { ['a'.repeat(513)]: ['subscribe'] }],
    ['more than 256 patterns', Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`p:${i}`, ['subscribe']]))],
  ])('refuses a malformed claim: %s', (_label, claim) => {
    expect(parseCapabilities(claim)).toBeNull();
  });

  it('accepts the largest allowed claim: 256 patterns of 512 characters', () => {
    const claim = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`${i}:`.padEnd(512, 'x'), ['subscribe']]));
    expect(parseCapabilities(claim)).toHaveLength(256);
  });

  it('treats a __proto__ key from a JSON claim as a plain pattern', () => {
    const parsed = rules(JSON.parse('{"__proto__":["subscribe"]}'));
    expect(parsed.map((r) => r.pattern)).toEqual(['__proto__']);
    expect(allows(parsed, '__proto__', 'subscribe')).toBe(true);
    expect(allows(parsed, 'chat:x', 'subscribe')).toBe(false);
  });
});

describe('allows', () => {
  const caps = rules({ 'project:*': ['subscribe', 'history'], 'chat:lobby': ['publish'], 'doc.v1:*': ['presence'] });

  it('denies by default when there are no rules', () => {
    for (const action of CAPABILITY_ACTIONS) expect(allows([], 'chat:lobby', action)).toBe(false);
  });

  it('allows exactly the granted actions on matching channels', () => {
    const matrix = (channel: string) => CAPABILITY_ACTIONS.filter((a: CapabilityAction) => allows(caps, channel, a));
    expect(matrix('project:42')).toEqual(['subscribe', 'history']);
    expect(matrix('chat:lobby')).toEqual(['publish']);
    expect(matrix('chat:lobby2')).toEqual([]);
    expect(matrix('doc.v1:x')).toEqual(['presence']);
    expect(matrix('docXv1:x')).toEqual([]);
  });

  it('combines the actions of several matching rules', () => {
    const both = rules({ 'chat:*': ['subscribe'], 'chat:lobby': ['publish'] });
    expect(allows(both, 'chat:lobby', 'subscribe')).toBe(true);
    expect(allows(both, 'chat:lobby', 'publish')).toBe(true);
    expect(allows(both, 'chat:other', 'publish')).toBe(false);
  });
});

describe('parseCapabilityFlag', () => {
  it('parses pattern=action,action', () => {
    expect(parseCapabilityFlag('project:*=subscribe,publish')).toEqual(['project:*', ['subscribe', 'publish']]);
  });

  it('trims spaces and ignores empty items between commas', () => {
    expect(parseCapabilityFlag('chat:x=subscribe, history,,')).toEqual(['chat:x', ['subscribe', 'history']]);
  });

  it('splits at the last "=" so patterns may contain "="', () => {
    expect(parseCapabilityFlag('chat:a=b=subscribe')).toEqual(['chat:a=b', ['subscribe']]);
  });

  it.each([
    ['no "="', 'project:*'],
    ['an empty pattern', '=subscribe'],
    ['no actions', 'project:*='],
    ['only commas', 'project:*=,,'],
    ['an unknown action', 'project:*=subscribe,admin'],
  ])('refuses a flag with %s', (_label, flag) => {
    expect(parseCapabilityFlag(flag)).toBeNull();
  });
});
