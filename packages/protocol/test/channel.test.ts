import { describe, expect, it } from 'vitest';
import { CHANNEL_MAX_LENGTH, parseChannel, TENANT_RE, USER_RE } from '../src/channel.js';

describe('parseChannel: valid names', () => {
  it.each([
    ['chat', { namespace: 'chat', name: '' }],
    ['chat:lobby', { namespace: 'chat', name: 'lobby' }],
    ['project:42:tasks', { namespace: 'project', name: '42:tasks' }],
    ['a', { namespace: 'a', name: '' }],
    ['ns_1-x:A', { namespace: 'ns_1-x', name: 'A' }],
    ['user:alice@example.com', { namespace: 'user', name: 'alice@example.com' }],
    ["doc:A-Z_a.z=0+9,;~!$*()'", { namespace: 'doc', name: "A-Z_a.z=0+9,;~!$*()'" }],
  ])('parses %j', (channel, expected) => {
    expect(parseChannel(channel)).toEqual(expected);
  });

  it('accepts a namespace of 64 characters and a channel of exactly the maximum length', () => {
    const ns = `a${'b'.repeat(63)}`;
    expect(parseChannel(ns)).toEqual({ namespace: ns, name: '' });
    const longest = `chat:${'x'.repeat(CHANNEL_MAX_LENGTH - 5)}`;
    expect(longest).toHaveLength(255);
    expect(parseChannel(longest)?.name).toHaveLength(250);
  });
});

describe('parseChannel: refused names', () => {
  it.each([null, undefined, 42, {}, ['chat'], true])('refuses the non-string %j', (value) => {
    expect(parseChannel(value)).toBeNull();
  });

  it.each([
    ['empty', ''],
    ['upper-case namespace', 'Chat:lobby'],
    ['all upper-case namespace', 'CHAT'],
    ['namespace starting with a digit', '1chat:x'],
    ['namespace starting with _', '_chat:x'],
    ['namespace starting with -', '-chat:x'],
    ['namespace with a dot', 'ch.at:x'],
    ['namespace of 65 characters', `a${'b'.repeat(64)}`],
    ['empty namespace', ':lobby'],
    ['empty name', 'chat:'],
    ['empty middle part', 'chat::lobby'],
    ['empty last part', 'chat:lobby:'],
    ['tenant separator in the name', 'chat:a|b'],
    ['tenant separator in the namespace', 'acme|chat:x'],
    ['NUL', 'chat:a\u0000b'],
    ['tab', 'chat:a\tb'],
    ['newline', 'chat:a\nb'],
    ['carriage return', 'chat:a\rb'],
    ['DEL', 'chat:a\u007fb'],
    ['space', 'chat:a b'],
    ['slash', 'chat:a/b'],
    ['backslash', 'chat:a\\b'],
    ['double quote', 'chat:a"b'],
    ['hash', 'chat:a#b'],
    ['percent escape', 'chat:a%2Fb'],
    ['question mark', 'chat:a?b'],
    ['ampersand', 'chat:a&b'],
    ['angle bracket', 'chat:<script>'],
    ['backtick', 'chat:a`b'],
    ['braces', 'chat:{a}'],
    ['square brackets', 'chat:[a]'],
  ])('refuses a name with %s', (_label, channel) => {
    expect(parseChannel(channel)).toBeNull();
  });

  it.each([
    ['Cyrillic a in the namespace', 'ch\u0430t:lobby'],
    ['Cyrillic o in the name', 'chat:l\u043ebby'],
    ['Greek omicron', 'chat:l\u03bfbby'],
    ['full-width letter', 'chat:\uff4cobby'],
    ['Greek question mark (looks like ;)', 'chat:a\u037eb'],
    ['full-width colon as separator', 'chat\uff1alobby'],
    ['dotted capital I', 'chat:\u0130'],
    ['Kelvin sign (lower-cases to k)', '\u212aey:x'],
    ['accented letter', 'chat:caf\u00e9'],
    ['combining accent', 'chat:cafe\u0301'],
    ['emoji', 'chat:\ud83d\ude00'],
    ['lone surrogate', 'chat:\ud800'],
  ])('refuses a Unicode look-alike: %s', (_label, channel) => {
    expect(parseChannel(channel)).toBeNull();
  });

  it.each([
    ['zero-width space in the name', 'chat:lob\u200bby'],
    ['zero-width space before the namespace', '\u200bchat:lobby'],
    ['zero-width joiner at the end', 'chat:lobby\u200d'],
    ['zero-width non-joiner', 'chat:lob\u200cby'],
    ['byte order mark', '\ufeffchat:lobby'],
    ['word joiner', 'chat:lob\u2060by'],
    ['soft hyphen', 'chat:lob\u00adby'],
    ['right-to-left override', 'chat:\u202eybbol'],
    ['no-break space', 'chat:a\u00a0b'],
    ['line separator', 'chat:a\u2028b'],
  ])('refuses an invisible character: %s', (_label, channel) => {
    expect(parseChannel(channel)).toBeNull();
  });

  it('refuses a channel one character over the maximum length', () => {
    expect(parseChannel(`chat:${'x'.repeat(CHANNEL_MAX_LENGTH - 4)}`)).toBeNull();
  });

  it('applies a custom maximum length', () => {
    expect(parseChannel('chat:0123456789a', 16)).toEqual({ namespace: 'chat', name: '0123456789a' });
    expect(parseChannel('chat:0123456789ab', 16)).toBeNull();
  });
});

describe('TENANT_RE and USER_RE', () => {
  it('accepts tenants of 1–64 characters of [A-Za-z0-9_-] only', () => {
    expect(['a', 'Acme_Corp-1', 't'.repeat(64)].map((t) => TENANT_RE.test(t))).toEqual([true, true, true]);
    expect(['', 't'.repeat(65), 'a|b', 'a.b', 'a b', 'a:b', 'ä', 'a\n'].map((t) => TENANT_RE.test(t))).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('accepts users of 1–128 characters of the channel-name set, so user:{sub} is always a valid channel', () => {
    expect(['alice', 'alice@example.com', 'u-1_2.3', '!', '~'.repeat(128)].map((u) => USER_RE.test(u))).toEqual([true, true, true, true, true]);
    expect(['', 'a:b', 'a b', 'a\tb', 'a\nb', 'a\u007f', 'ålice', 'u'.repeat(129), 'u/1', 'a|b', 'a#b'].map((u) => USER_RE.test(u))).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    for (const u of ['alice', 'alice@example.com', "o'brien"]) expect(parseChannel(`user:${u}`)).not.toBeNull();
  });
});
