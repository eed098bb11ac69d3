import { z } from 'zod';
import { defineEventType } from '../events.js';

/** A document changed: sent at most once per `documents.updateEventDebounce` per document, after its changes are stored. */
export const documentUpdated = defineEventType({
  type: 'document.updated',
  description: 'A document changed (debounced: at most one per document per documents.updateEventDebounce, after the changes are stored)',
  data: z.object({
    name: z.string().describe('the document (its channel name)'),
    bytes: z.number().int().describe('its stored size: snapshot and update log'),
    updates: z.number().int().describe('changes stored since the previous event'),
  }),
  example: { name: 'doc:form-42', bytes: 18_244, updates: 12 },
});
