import { ErrorCode, type ErrorCodeName, errorCodeName } from '@switchboard/protocol';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { NodeContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { ErrorLog } from '../../observability/error-log.js';
import type { ReplyErrorBody } from './schemas.js';

/**
 * The HTTP status of every reply error code: the one table. Typed over every code name,
 * so a new code in the protocol does not compile until it has a status here.
 */
export const HTTP_STATUS: Readonly<Record<ErrorCodeName, number>> = Object.freeze({
  Internal: 500,
  Unauthorized: 401,
  UnknownChannel: 422,
  PermissionDenied: 403,
  MethodNotFound: 404,
  AlreadySubscribed: 409,
  LimitExceeded: 422,
  BadRequest: 400,
  NotAvailable: 422,
  TokenExpired: 401,
  InvalidChannel: 422,
  TooManyRequests: 429,
  UnrecoverablePosition: 409,
  NotSubscribed: 409,
  PayloadTooLarge: 413,
  DuplicateId: 409,
  Unavailable: 503,
  NotFound: 404,
  AlreadyConnected: 409,
  InvalidPayload: 422,
  BackendUnavailable: 503,
  BackendInvalidResponse: 502,
  BackendBusy: 503,
  InvalidSchedule: 422,
  NotPending: 409,
  InvalidFilter: 422,
  InvalidTags: 422,
  InvalidWebhookUrl: 422,
  UnknownEventType: 422,
  InvalidRange: 400,
  Locked: 409,
  StaleFencingToken: 409,
  Conflict: 409,
  InvalidUpdate: 422,
  RecordConflict: 409,
  InvalidMetricValue: 422,
  InvalidTimestamp: 422,
  TimestampTooEarly: 422,
  TimestampTooLate: 422,
  UnknownSeries: 422,
  UnknownLabel: 422,
  LabelValueTooLong: 422,
  SeriesLimit: 422,
  LabelValueLimit: 422,
  UnknownResolution: 422,
  IngestRateLimited: 429,
  SeriesReadOnly: 409,
  SeriesKindConflict: 409,
  SeriesDeclarationLimit: 422,
  UnknownDashboard: 404,
  DashboardTooLarge: 422,
  ReadOnlyKey: 403,
  InvalidAlertRule: 422,
  AlertRuleLimit: 422,
});

/** Application codes (400–1999, from feature hooks) refuse a well-formed request. */
export const APPLICATION_ERROR_STATUS = 422;

export function statusOf(code: number): number {
  const name = errorCodeName(code);
  return name ? HTTP_STATUS[name] : APPLICATION_ERROR_STATUS;
}

/** Fastify's own 4xx errors (body parsing, content type) as reply errors. */
function fromFastifyError(err: FastifyError): { status: number; error: ReplyError } | null {
  const status = err.statusCode;
  if (status === undefined || status < 400 || status >= 500) return null;
  if (status === 413) return { status, error: new ReplyError(ErrorCode.PayloadTooLarge, 'request body') };
  // Fastify's messages for these are fixed strings that say what was wrong with the request.
  return { status, error: new ReplyError(ErrorCode.BadRequest, err.message.slice(0, 200)) };
}

export function sendError(reply: FastifyReply, status: number, error: ReplyErrorBody): FastifyReply {
  if (status === 401) void reply.header('www-authenticate', 'Bearer realm="switchboard"');
  if (error.temporary && (status === 503 || status === 429))
    void reply.header('retry-after', String(Math.max(1, Math.ceil((error.retryAfter ?? 1000) / 1000))));
  return reply.code(status).type('application/json; charset=utf-8').send({ error });
}

/** Where an error is recorded: the tenant the request acted in (null before the key was checked, or '' for every tenant). */
const tenantOf = (req: FastifyRequest): string | null => (req.tenant ? req.tenant : null);
/** The route pattern (never the URL itself, which holds ids). */
const routeOf = (req: FastifyRequest): string => req.routeOptions.url ?? '(no route)';

/**
 * The error handler of the API scope: every error leaves as `{error: {code, message,
 * temporary}}`, and is recorded once in the node's error log; an unexpected one is logged
 * and answered 500 without its message or stack.
 */
export function createErrorHandler(node: NodeContext, errorLog: ErrorLog) {
  return (err: FastifyError | ReplyError, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const known = err instanceof ReplyError ? { status: statusOf(err.code), error: err } : fromFastifyError(err);
    const error = known ? known.error : node.internalError(err, `http ${req.method} ${routeOf(req)}`);
    errorLog.record(error.code, tenantOf(req), 'http', req.method, routeOf(req), error.message, '');
    return sendError(reply, known ? known.status : 500, error.toWire());
  };
}

/** The 404 of an unknown route, recorded (with no route and no URL) in the node's error log. */
export function notFoundHandler(errorLog: ErrorLog) {
  return (req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const error = new ReplyError(ErrorCode.NotFound, 'no such route');
    errorLog.record(error.code, null, 'http', req.method, '(no route)', error.message, '');
    return sendError(reply, 404, error.toWire());
  };
}
