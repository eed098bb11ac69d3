/** Counters and token buckets that must hold across all nodes (connections, publish rates). */
export interface LimitStore {
  /** Take one connection slot for the user and the tenant, or say which limit is full. */
  acquireConnection(tenant: string, user: string, perUser: number, perTenant: number): Promise<'ok' | 'user' | 'tenant'>;
  releaseConnection(tenant: string, user: string): Promise<void>;
  /** The tenant's connections and distinct connected users, over every node. */
  tenantUsage(tenant: string): Promise<{ connections: number; users: number }>;
  /** Take `cost` tokens from bucket `key` (capacity `burst`, refilled `ratePerSecond`). */
  take(key: string, ratePerSecond: number, burst: number, cost?: number): Promise<boolean>;
  /** `take`, answering 0 when taken, else the milliseconds until `cost` tokens could be taken. */
  takeOrWait(key: string, ratePerSecond: number, burst: number, cost?: number): Promise<number>;
  close(): Promise<void>;
}
