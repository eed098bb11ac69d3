import { ErrorCode } from '@switchboard/protocol';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { NamespaceConfig } from '../config/schema.js';
import { ReplyError } from '../errors/reply-error.js';
import { createError } from '../errors/sb-error.js';
import type { ResolvedChannel } from './channels.js';

/** What a namespace's schemas apply to: publication data, presence state, signal data. */
export type PayloadKind = 'publication' | 'presence' | 'signal';
const KINDS: readonly PayloadKind[] = ['publication', 'presence', 'signal'];

/** Longest error detail sent to a client: the path and Ajv's message, cut. */
const MAX_DETAIL = 300;

/**
 * The namespaces' payload schemas, compiled once when the node starts (Ajv, JSON Schema
 * 2020-12, strict mode, the standard formats). A schema that does not compile — an unknown
 * keyword, a `$ref` that is not inside the schema (nothing is ever fetched), a bad
 * pattern — refuses the start with SB_ERR_CONFIG_INVALID naming the namespace.
 */
export class PayloadSchemas {
  readonly #validators = new Map<string, ValidateFunction>();

  constructor(namespaces: Readonly<Record<string, NamespaceConfig>>) {
    const ajv = new Ajv2020({ strict: true, allErrors: false, validateFormats: true, loadSchema: undefined });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    for (const [ns, options] of Object.entries(namespaces)) {
      for (const kind of KINDS) {
        const schema = options.schemas?.[kind];
        if (schema === undefined) continue;
        try {
          this.#validators.set(`${ns}\n${kind}`, ajv.compile(schema));
        } catch (err) {
          throw createError('SB_ERR_CONFIG_INVALID', `namespaces.${ns}.schemas.${kind}: ${(err as Error).message}`);
        }
      }
    }
  }

  /** Whether the channel's namespace declares a schema for this kind of payload. */
  has(ch: ResolvedChannel, kind: PayloadKind): boolean {
    return this.#validators.has(`${ch.namespace}\n${kind}`);
  }

  /** Throw 119 (InvalidPayload) naming the first failing path when `value` does not match. */
  check(ch: ResolvedChannel, kind: PayloadKind, value: unknown): void {
    const validate = this.#validators.get(`${ch.namespace}\n${kind}`);
    if (validate === undefined || validate(value)) return;
    throw new ReplyError(ErrorCode.InvalidPayload, describe(kind, validate.errors?.[0]));
  }
}

/** `publication data/items/0/name: must be string`, with the allowed values or the missing property where Ajv gives them. */
function describe(kind: PayloadKind, error: ErrorObject | undefined): string {
  const what = kind === 'publication' ? 'publication data' : kind === 'presence' ? 'presence state' : 'signal data';
  if (!error) return what;
  const params = error.params as Record<string, unknown>;
  let path = error.instancePath;
  if (error.keyword === 'required' && typeof params['missingProperty'] === 'string') path += `/${params['missingProperty']}`;
  if (error.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') path += `/${params['additionalProperty']}`;
  let message = error.message ?? 'does not match the schema';
  if (error.keyword === 'enum' && Array.isArray(params['allowedValues'])) message += `: ${JSON.stringify(params['allowedValues'])}`;
  return `${what}${path || ''}: ${message}`.slice(0, MAX_DETAIL);
}
