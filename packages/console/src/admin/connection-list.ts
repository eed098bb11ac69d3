import { api, type Session } from '../api';

/** One connection as `GET /api/v1/connections` lists it. */
export interface ListedConnection {
  client: string;
  tenant: string;
  user: string;
  ip: string;
  origin: string | null;
  node: string;
  connectedAt: number;
  status: 'online' | 'away' | 'idle';
  subscriptions: number;
}

export interface ConnectionList {
  connections: ListedConnection[];
  total: number;
  subscriptions: number;
  nodes: number;
  complete: boolean;
}

export interface ConnectionSearch {
  user?: string;
  tenant?: string;
  ip?: string;
  limit?: number;
}

/** The connections the key may see that match a search (a tenant key: its tenant's only). */
export function listConnections(session: Session, search: ConnectionSearch): Promise<ConnectionList> {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(search)) if (value !== undefined && value !== '') query.set(name, String(value));
  return api<ConnectionList>(session.key, `/connections?${query}`);
}
