/**
 * Reply error codes of protocol v1. A reply error is `{code, message, temporary}`.
 * Codes 0–399 belong to Switchboard; 400–1999 are reserved for the application
 * (features and hooks may return them). `temporary: true` means the same command
 * may succeed if retried later. Mirrored in docs/protocol.md (a test keeps them in sync).
 */
export interface ErrorCodeInfo {
  readonly code: number;
  readonly message: string;
  readonly temporary: boolean;
}

function def(code: number, message: string, temporary = false): ErrorCodeInfo {
  return Object.freeze({ code, message, temporary });
}

export const ErrorCode = Object.freeze({
  /** An unexpected server-side failure; safe to retry. */
  Internal: def(100, 'internal server error', true),
  /** The connection has not completed `connect`, or the credentials were refused. */
  Unauthorized: def(101, 'unauthorized'),
  /** The channel's namespace is not declared in the server configuration. */
  UnknownChannel: def(102, 'unknown channel'),
  /** The token's capabilities or the namespace's rules do not allow this action on this channel. */
  PermissionDenied: def(103, 'permission denied'),
  /** The command's `method` is not known to this server. */
  MethodNotFound: def(104, 'method not found'),
  /** The connection is already subscribed to this channel. */
  AlreadySubscribed: def(105, 'already subscribed'),
  /** A configured count limit (channels per connection, presence members, batch size…) was reached. */
  LimitExceeded: def(106, 'limit exceeded'),
  /** The command is malformed: wrong types, missing fields, values out of range. */
  BadRequest: def(107, 'bad request'),
  /** The action is disabled for this namespace (for example client publish or presence). */
  NotAvailable: def(108, 'not available'),
  /** The token has expired; refresh it (`refresh`) and retry. */
  TokenExpired: def(109, 'token expired'),
  /** The channel name is not valid: characters, length or empty parts. */
  InvalidChannel: def(110, 'invalid channel name'),
  /** A rate limit (token bucket) refused the command; retry later. */
  TooManyRequests: def(111, 'too many requests', true),
  /** The requested stream position cannot be recovered (epoch changed or beyond history). */
  UnrecoverablePosition: def(112, 'unrecoverable position'),
  /** The connection is not subscribed to this channel. */
  NotSubscribed: def(113, 'not subscribed'),
  /** The payload is larger than the configured maximum for this namespace or command. */
  PayloadTooLarge: def(114, 'payload too large'),
  /** The command id was already used by a command still in flight on this connection. */
  DuplicateId: def(115, 'duplicate command id'),
  /** The server is shutting down or a backing store is unreachable; retry later. */
  Unavailable: def(116, 'service unavailable', true),
  /** The resource does not exist (or belongs to another tenant: the answer is the same). */
  NotFound: def(117, 'not found'),
  /** `connect` was sent on a connection that is already connected. */
  AlreadyConnected: def(118, 'already connected'),
  /** The payload does not match the namespace's JSON Schema; the message names the first failing path. */
  InvalidPayload: def(119, 'payload does not match the schema'),
  /** The app's backend (a backend hook) did not answer: down, timed out or failed; retry later. */
  BackendUnavailable: def(120, 'backend unavailable', true),
  /** The app's backend answered something that is not a valid answer (not JSON, wrong shape, too large). */
  BackendInvalidResponse: def(121, 'backend invalid response'),
  /** Too many calls to the app's backend are in flight on this node; retry later. */
  BackendBusy: def(122, 'backend busy', true),
  /** A scheduled publication's time is refused: in the past (beyond a few seconds) or further ahead than the server allows. */
  InvalidSchedule: def(123, 'invalid schedule'),
  /** The scheduled publication is no longer pending (delivered, being delivered, failed or cancelled): it cannot be cancelled. */
  NotPending: def(124, 'not pending'),
  /** The subscription's `filter` is not valid: its shape, or beyond the size, depth or leaf limits; the message names the problem. */
  InvalidFilter: def(125, 'invalid filter'),
  /** The publication's `tags` are not valid: too many, a key or value too long, or tags where the namespace allows none. */
  InvalidTags: def(126, 'invalid tags'),
  /** A webhook URL is refused: not http(s), too long, or an address the SSRF rules forbid (link-local, metadata, private or loopback unless allowed). */
  InvalidWebhookUrl: def(127, 'invalid webhook url'),
  /** An event type in a filter is not in the server's event catalogue (`GET /webhooks/event-types`). */
  UnknownEventType: def(128, 'unknown event type'),
  /** A time range is refused: reversed, or reaching into the future where it must not. */
  InvalidRange: def(129, 'invalid range'),
  /** Another holder has the lock (the error's `data.holder` names it); retry later or wait for it (`waitMs`). */
  Locked: def(130, 'locked', true),
  /** The fencing token presented is not the current one of the lock: the lock was released, expired or taken since. */
  StaleFencingToken: def(131, 'stale fencing token'),
  /** The resource is no longer in a state that allows this change (for example editing a deleted comment). */
  Conflict: def(132, 'conflict'),
  /** A document update is not a well-formed Yjs update (or one that cannot be applied to the document): nothing changed. */
  InvalidUpdate: def(133, 'invalid document update'),
  /** A record write's base version is stale for a field it changes (`manual`, or `merge` on a scalar): nothing changed; `data.conflicts` carries each field's current value, version and author. */
  RecordConflict: def(134, 'record conflict'),
  /** A metric point's value is not a finite number (a string, null, missing; JSON cannot carry NaN or ±Infinity): nothing of the batch was written. */
  InvalidMetricValue: def(135, 'invalid metric value'),
  /** A metric point's timestamp is not an integer of ms from 0 to 2^53 − 1: nothing of the batch was written. */
  InvalidTimestamp: def(136, 'invalid timestamp'),
  /** A metric point's timestamp is further ahead of the server's clock than the allowed skew: nothing of the batch was written. */
  TimestampTooEarly: def(137, 'timestamp too far ahead'),
  /** A metric point's timestamp is older than the lateness allows (behind its series' newest point) or than the retention keeps: nothing of the batch was written. */
  TimestampTooLate: def(138, 'timestamp too late'),
  /** No such metric series is declared (or it belongs to another tenant: the answer is the same). */
  UnknownSeries: def(139, 'unknown series'),
  /** A label key is not among the keys declared for the series: nothing of the batch was written. */
  UnknownLabel: def(140, 'unknown label'),
  /** A label value is longer than the server allows: nothing of the batch was written. */
  LabelValueTooLong: def(141, 'label value too long'),
  /** The tenant holds as many series (one per series and label set) as it may: nothing of the batch was written. */
  SeriesLimit: def(142, 'series limit reached'),
  /** A label key of the series has as many distinct values in the tenant as it may: nothing of the batch was written. */
  LabelValueLimit: def(143, 'label value limit reached'),
  /** The resolution is not one the series keeps. */
  UnknownResolution: def(144, 'unknown resolution'),
  /** The tenant's metric ingest budget (points per second) is spent: nothing of the batch was written; retry after `retryAfter` ms. */
  IngestRateLimited: def(145, 'ingest rate limited', true),
  /** A metric series declared in the server's configuration cannot be changed or deleted over HTTP. */
  SeriesReadOnly: def(153, 'series declared in the configuration'),
  /** A metric series cannot change its kind; delete it first (its buckets go with it). */
  SeriesKindConflict: def(154, 'series kind conflict'),
  /** The tenant declares as many metric series over HTTP as it may: nothing was stored. */
  SeriesDeclarationLimit: def(155, 'series declaration limit reached'),
  /** No such metric dashboard (or it belongs to another tenant: the answer is the same). */
  UnknownDashboard: def(156, 'unknown dashboard'),
  /** A metric dashboard is above the size limit (bytes of its JSON) or the panel limit: nothing was stored. */
  DashboardTooLarge: def(157, 'dashboard too large'),
  /** The API key is read-only (`switchboard apikey create --read-only`): it may read, never change anything (any method but GET). */
  ReadOnlyKey: def(158, 'read only key'),
  /** An alert rule is inconsistent (no threshold, thresholds in the wrong order, `rate` of a series that is not a counter, an undeclared role, a config rule's name): nothing was stored. */
  InvalidAlertRule: def(161, 'invalid alert rule'),
  /** The tenant holds as many alert rules of its own as it may: the new one was not stored. */
  AlertRuleLimit: def(162, 'alert rule limit reached'),
});

export type ErrorCodeName = keyof typeof ErrorCode;

/** Range of codes that features and applications may use for their own reply errors. */
export const APPLICATION_ERROR_MIN = 400;
export const APPLICATION_ERROR_MAX = 1999;

const byCode = new Map<number, ErrorCodeName>();
for (const name of Object.keys(ErrorCode) as ErrorCodeName[]) byCode.set(ErrorCode[name].code, name);

/** The name of a Switchboard reply error code, or undefined for application codes. */
export function errorCodeName(code: number): ErrorCodeName | undefined {
  return byCode.get(code);
}
