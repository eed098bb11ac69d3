import { describe, expect, it } from 'vitest';
import { negotiateDeflate } from '../../src/transport/deflate-offer.js';

/** Context takeover (shared streams on): the server keeps its window; the client never keeps its own. */
const BASE = 'permessage-deflate; client_no_context_takeover';
const ALONE = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

describe('permessage-deflate negotiation', () => {
  it.each([
    ['a browser offer (client_max_window_bits without a value)', 'permessage-deflate; client_max_window_bits', `${BASE}; client_max_window_bits=10`],
    ['a bare offer', 'permessage-deflate', BASE],
    ['client window offered larger than ours', 'permessage-deflate; client_max_window_bits=15', `${BASE}; client_max_window_bits=10`],
    ['client window offered smaller than ours', 'permessage-deflate; client_max_window_bits=9', `${BASE}; client_max_window_bits=9`],
    ['a quoted value', 'permessage-deflate; client_max_window_bits="12"', `${BASE}; client_max_window_bits=10`],
    ['both no_context_takeover offered', 'permessage-deflate; server_no_context_takeover; client_no_context_takeover', ALONE],
    ['server_no_context_takeover asked for', 'permessage-deflate; server_no_context_takeover; client_max_window_bits', `${ALONE}; client_max_window_bits=10`],
    ['server_max_window_bits=15', 'permessage-deflate; server_max_window_bits=15', `${BASE}; server_max_window_bits=15`],
    ['another extension first', 'x-webkit-deflate-frame, permessage-deflate', BASE],
    [
      'a bad offer, then a good one',
      'permessage-deflate; client_max_window_bits=7, permessage-deflate; client_max_window_bits',
      `${BASE}; client_max_window_bits=10`,
    ],
  ])('accepts %s', (_name, header, answer) => {
    expect(negotiateDeflate(header)).toBe(answer);
  });

  it.each([
    ['a browser offer', 'permessage-deflate; client_max_window_bits', `${ALONE}; client_max_window_bits=10`],
    ['a bare offer', 'permessage-deflate', ALONE],
    ['server_no_context_takeover asked for', 'permessage-deflate; server_no_context_takeover', ALONE],
  ])('with shared streams off (compressionStreams 0), answers %s with server_no_context_takeover', (_name, header, answer) => {
    expect(negotiateDeflate(header, false)).toBe(answer);
  });

  it.each([
    ['no header', undefined],
    ['another extension only', 'x-webkit-deflate-frame'],
    ['client_max_window_bits=7', 'permessage-deflate; client_max_window_bits=7'],
    ['client_max_window_bits=16', 'permessage-deflate; client_max_window_bits=16'],
    ['client_max_window_bits=abc', 'permessage-deflate; client_max_window_bits=abc'],
    ['client_max_window_bits=010', 'permessage-deflate; client_max_window_bits=010'],
    ['a duplicated parameter', 'permessage-deflate; client_max_window_bits; client_max_window_bits'],
    ['a duplicated flag', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['an unknown parameter', 'permessage-deflate; x=1'],
    ['a flag with a value', 'permessage-deflate; server_no_context_takeover=1'],
    ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits'],
    ['server_max_window_bits below ours', 'permessage-deflate; server_max_window_bits=10'],
    ['an empty parameter', 'permessage-deflate;;'],
    ['a lone quote', 'permessage-deflate; client_max_window_bits="'],
    ['junk', ',="; ;;'],
    ['10,000 offers of junk', 'permessage-deflate; x, '.repeat(10_000)],
  ])('declines %s', (_name, header) => {
    expect(negotiateDeflate(header)).toBeNull();
  });
});
