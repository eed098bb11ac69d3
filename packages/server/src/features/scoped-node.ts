import type { Logger } from 'pino';
import type { LeaseStoreView, NodeContext, NodeMessagesView, RatesView, SurveysView } from '../core/context.js';
import type { Storage } from '../storage/storage.js';

/** What a feature's view of the node has of its own: logger, messages, leases, rates, surveys, storage, services. */
export interface FeatureScope {
  logger: Logger;
  messages: NodeMessagesView;
  leases: LeaseStoreView;
  rates: RatesView;
  surveys: SurveysView;
  storage: Storage;
  feature<T>(name: string): T;
}

/**
 * The node as one feature sees it (`ctx.node`): the node's channel operations, with the
 * feature's logger, its scoped messages and leases, and only its dependencies' services.
 */
export function scopedNode(node: NodeContext, scope: FeatureScope): NodeContext {
  return {
    get id() {
      return node.id;
    },
    get config() {
      return node.config;
    },
    get limits() {
      return node.limits;
    },
    get draining() {
      return node.draining;
    },
    get metricsRegistry() {
      return node.metricsRegistry;
    },
    get selfFigures() {
      return node.selfFigures;
    },
    get security() {
      return node.security;
    },
    logger: scope.logger,
    messages: scope.messages,
    leases: scope.leases,
    rates: scope.rates,
    surveys: scope.surveys,
    storage: scope.storage,
    feature: scope.feature,
    now: () => node.now(),
    verifyToken: (token) => node.verifyToken(token),
    resolve: (tenant, channel) => node.resolve(tenant, channel),
    checkPublicationSize: (ch, data) => node.checkPublicationSize(ch, data),
    checkPayload: (ch, kind, value) => node.checkPayload(ch, kind, value),
    tenantViews: node.tenantViews,
    quotas: node.quotas,
    publish: (ch, data, req) => node.publish(ch, data, req),
    history: (ch, query) => node.history(ch, query),
    removeHistory: (ch) => node.removeHistory(ch),
    presence: (ch) => node.presence(ch),
    presenceStats: (ch) => node.presenceStats(ch),
    joinPresence: (ch, member) => node.joinPresence(ch, member),
    channels: (tenant) => node.channels(tenant),
    localSessions: (tenant) => node.localSessions(tenant),
    localFeaturePresences: (tenant) => node.localFeaturePresences(tenant),
    clusterChannels: (tenant, prefix) => node.clusterChannels(tenant, prefix),
    disconnectUser: (tenant, user, info, client) => node.disconnectUser(tenant, user, info, client),
    unsubscribeUser: (tenant, user, channel) => node.unsubscribeUser(tenant, user, channel),
    subscribeUser: (tenant, user, channel) => node.subscribeUser(tenant, user, channel),
    internalError: (err, where) => node.internalError(err, where),
  };
}
