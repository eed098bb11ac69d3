import type { Logger } from 'pino';
import { createError } from '../../errors/sb-error.js';
import type { EventType } from '../events.js';
import type { WebhooksConfig } from './config.js';
import { declaredId, isDeclared } from './endpoint-ids.js';
import { unknownEventType } from './event-filter.js';
import { type AddressCheck, urlProblem } from './ssrf.js';
import type { WebhookStore } from './store.js';
import type { WebhookEndpointTable } from './tables.js';

type Declared = WebhooksConfig['endpoints'][number];

/**
 * Bring the stored endpoints in line with `webhooks.endpoints`: each declared one created or
 * updated (a changed secret rotates, the old one signing too for `rotationOverlap`), and a
 * declared one no longer in the config deleted with its messages. Its state (enabled,
 * failing) is the store's, not the config's. A declared URL the SSRF rules refuse, or an
 * unknown event type, stops the start with SB_ERR_CONFIG_INVALID. Returns the tenants whose
 * endpoints changed.
 */
export async function applyDeclaredEndpoints(
  store: WebhookStore,
  config: WebhooksConfig,
  o: { check: AddressCheck; catalogue: readonly EventType[]; now: number; logger: Logger },
): Promise<string[]> {
  const wanted = new Map<string, Declared>();
  config.endpoints.forEach((d, i) => {
    const where = `webhooks.endpoints[${i}]`;
    const problem = urlProblem(d.url, config.maxUrlLength, o.check);
    if (problem) throw createError('SB_ERR_CONFIG_INVALID', `${where}.url: ${problem}`);
    const unknown = unknownEventType(d.events, o.catalogue);
    if (unknown !== null) throw createError('SB_ERR_CONFIG_INVALID', `${where}.events: "${unknown}" is not in the event catalogue`);
    const id = declaredId(d.tenant, d.id);
    if (wanted.has(id)) throw createError('SB_ERR_CONFIG_INVALID', `${where}: tenant "${d.tenant}" declares the id "${d.id}" twice`);
    wanted.set(id, d);
  });
  const changed = new Set<string>();
  for (const [id, d] of wanted) if (await upsert(store, id, d, config, o.now)) changed.add(d.tenant);
  for (const row of await store.allEndpoints()) {
    if (!isDeclared(row.id) || wanted.has(row.id)) continue;
    await store.delete(row.tenant, row.id, o.now);
    changed.add(row.tenant);
    o.logger.info({ endpoint: row.id, tenant: row.tenant }, 'a webhook endpoint removed from the config file was deleted');
  }
  return [...changed];
}

/** Create or update one declared endpoint; whether anything changed. */
async function upsert(store: WebhookStore, id: string, d: Declared, config: WebhooksConfig, now: number, again = false): Promise<boolean> {
  const fields = {
    url: d.url,
    description: d.description,
    events: JSON.stringify([...new Set(d.events)]),
    channels: JSON.stringify([...new Set(d.channels)]),
    batch_window: d.batch?.windowMs ?? null,
    batch_size: d.batch?.maxEvents ?? null,
  };
  const existing = await store.endpointById(id);
  if (!existing) {
    const row: WebhookEndpointTable = {
      id,
      tenant: d.tenant,
      ...fields,
      secret: d.secret,
      previous_secret: null,
      previous_until: null,
      status: 'enabled',
      disabled_reason: null,
      failing_since: null,
      created_at: now,
      updated_at: now,
    };
    // Declared endpoints are the operator's: no per-tenant cap. Another node starting at the same time may win the insert.
    try {
      await store.create(row, Number.POSITIVE_INFINITY);
      return true;
    } catch (err) {
      if (again) throw err;
      return upsert(store, id, d, config, now, true);
    }
  }
  const same =
    existing.url === fields.url && existing.description === fields.description && existing.events === fields.events && existing.channels === fields.channels;
  if (same && existing.secret === d.secret) return false;
  const rotated = existing.secret === d.secret ? {} : { secret: d.secret, previous_secret: existing.secret, previous_until: now + config.rotationOverlap };
  await store.update(existing.tenant, id, { ...fields, ...rotated, updated_at: now });
  return true;
}
