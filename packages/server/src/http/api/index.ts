import type { FastifyInstance } from 'fastify';
import type { ApiKeyStore } from '../../auth/api-keys.js';
import type { Node } from '../../core/node.js';

/** Routes of the HTTP API under /api/v1. */
export async function registerApi(_app: FastifyInstance, _node: Node, _apiKeys: ApiKeyStore): Promise<void> {}
