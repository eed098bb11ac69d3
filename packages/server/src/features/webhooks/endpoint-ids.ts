import { createHash } from 'node:crypto';

/** Ids of endpoints declared in the config file start with this (the API's own start with `whe_` and a time). */
export const DECLARED_PREFIX = 'whe_cfg';

/** The endpoint id of a declared endpoint: the same on every node and every start. */
export function declaredId(tenant: string, id: string): string {
  return `${DECLARED_PREFIX}${createHash('sha256').update(`${tenant}\0${id}`).digest('hex').slice(0, 24)}`;
}

/** Whether an endpoint was declared in the config file (the API may not change or delete it). */
export function isDeclared(endpointId: string): boolean {
  return endpointId.startsWith(DECLARED_PREFIX);
}
