/** Moved to errors/sb-error.ts; kept for cli/bench until its imports move there too. */
export { SB_ERRORS, SwitchboardError, createError, type FeatureErrorCode, type SbErrorCode } from '../errors/sb-error.js';
