import type { Logger } from 'pino';
import type { LeaseStoreView, NodeMessagesView, RatesView, SurveysView } from '../core/context.js';

/** Node messages as a feature sees them: its operations only, handlers' failures logged. */
export type FeatureMessages = NodeMessagesView;

/** Leases as a feature sees them: its keys only. */
export type FeatureLeases = LeaseStoreView;

/**
 * A feature's view of the node messages: operation names are scoped to the feature
 * (`op` travels as `<feature>.<op>`), so two features cannot answer each other's messages.
 */
export function featureMessages(feature: string, messages: NodeMessagesView, logger: Logger): FeatureMessages {
  const scoped = (op: string) => `${feature}.${op}`;
  const logged =
    <A extends unknown[]>(what: string, fn: (...args: A) => void | Promise<void>) =>
    async (...args: A): Promise<void> => {
      try {
        await fn(...args);
      } catch (err) {
        logger.warn({ err, op: what }, 'node message handler failed');
      }
    };
  return {
    get nodeId() {
      return messages.nodeId;
    },
    get alone() {
      return messages.alone;
    },
    notify: (op, data, toNode) => messages.notify(scoped(op), data, toNode),
    onNotification: (op, handler) => messages.onNotification(scoped(op), logged(op, handler)),
    onNodeDown: (handler) => messages.onNodeDown(logged('node down', handler)),
  };
}

/** A feature's view of the shared rate buckets: names are scoped to the feature (`<feature>/<bucket>`). */
export function featureRates(feature: string, rates: RatesView): RatesView {
  return {
    take: (bucket, ratePerSecond, burst, cost) => rates.take(`${feature}/${bucket}`, ratePerSecond, burst, cost),
    takeOrWait: (bucket, ratePerSecond, burst, cost) => rates.takeOrWait(`${feature}/${bucket}`, ratePerSecond, burst, cost),
    shared: rates.shared,
  };
}

/** A feature's view of the leases: keys are scoped to the feature (`<feature>/<key>`). */
export function featureLeases(feature: string, leases: LeaseStoreView): FeatureLeases {
  const scoped = (key: string) => `${feature}/${key}`;
  return {
    acquire: (key, ttlMs, owner) => leases.acquire(scoped(key), ttlMs, owner),
    queue: (key, ttlMs, owner, placeTtlMs, front) => leases.queue(scoped(key), ttlMs, owner, placeTtlMs, front),
    leave: (key, owner) => leases.leave(scoped(key), owner),
    renew: (key, token, ttlMs) => leases.renew(scoped(key), token, ttlMs),
    release: (key, token) => leases.release(scoped(key), token),
    get: (key) => leases.get(scoped(key)),
  };
}

/**
 * A feature's view of the surveys: kinds are scoped to the feature (`<feature>/<kind>`), and
 * a handler that throws is logged and gives no answer (the asker sees the survey incomplete
 * on Redis) instead of failing the survey.
 */
export function featureSurveys(feature: string, surveys: SurveysView, logger: Logger): SurveysView {
  const scoped = (kind: string) => `${feature}/${kind}`;
  return {
    answer: (kind, handler) =>
      surveys.answer(scoped(kind), async (request) => {
        try {
          return await handler(request);
        } catch (err) {
          logger.warn({ err, kind }, 'survey handler failed');
          return undefined;
        }
      }),
    ask: (kind, request) => surveys.ask(scoped(kind), request),
  };
}
