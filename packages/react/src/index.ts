export { ActivityTimeline, type ActivityTimelineProps } from './components/activity-timeline.js';
export { AvatarStack, type AvatarStackProps } from './components/avatar-stack.js';
export { type ConnectionPhase, ConnectionStatus, type ConnectionStatusProps } from './components/connection-status.js';
export { type CursorPosition, LiveCursors, type LiveCursorsProps } from './components/live-cursors.js';
export { NotificationBell, type NotificationBellProps } from './components/notification-bell.js';
export { NotificationInbox, type NotificationInboxProps } from './components/notification-inbox.js';
export { Toaster, type ToasterProps } from './components/toaster.js';
export { TypingIndicator, type TypingIndicatorProps } from './components/typing-indicator.js';
export {
  type Cursors,
  type CursorsOptions,
  type ListResult,
  type MyPresence,
  type NotificationsResult,
  type PreferencesResult,
  type Typing,
  useActivity,
  useChannel,
  useConnectionStatus,
  useCursors,
  useErrorListener,
  useMyPresence,
  useNotificationPreferences,
  useNotifications,
  useOthers,
  usePresence,
  usePublish,
  useTyping,
  useUnreadCount,
} from './hooks.js';
export type { LatestKey } from './latest.js';
export type { MetricSeriesSnapshot, MetricSnapshot } from './metric-stream.js';
export { type ClientProviderProps, SwitchboardProvider, type SwitchboardProviderProps, type UrlProviderProps, useClient } from './provider.js';
export type { ActivityFilters, NotificationsOptions } from './registry.js';
export type { ChannelSnapshot, Cursor } from './room.js';
export type { HookResult } from './store.js';
export { type LatestOptions, useLatest } from './use-latest.js';
export { useMetric } from './use-metric.js';
