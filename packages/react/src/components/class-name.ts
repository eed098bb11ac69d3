/** A component's own class name followed by the app's, if any. */
export function className(own: string, extra: string | undefined): string {
  return extra ? `${own} ${extra}` : own;
}
