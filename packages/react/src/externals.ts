/**
 * The React and client SDK values this package's modules use, imported here once. A bundler
 * such as esbuild writes one import statement per module and external package; importing
 * through this module leaves one per package in an app's bundle.
 */

export { ClientCode, SwitchboardClient, SwitchboardError } from '@switchboard/client';
export { activity } from '@switchboard/client/activity';
export { notifications } from '@switchboard/client/notifications';
export { createContext, createElement, Suspense, useCallback, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
