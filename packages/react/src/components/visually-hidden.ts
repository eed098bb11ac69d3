import type { CSSProperties } from 'react';

/** Text for screen readers only: in the accessibility tree, not on screen. */
export const VISUALLY_HIDDEN: CSSProperties = Object.freeze({
  position: 'absolute',
  width: 1,
  height: 1,
  padding: 0,
  margin: -1,
  overflow: 'hidden',
  clip: 'rect(0, 0, 0, 0)',
  whiteSpace: 'nowrap',
  border: 0,
});
