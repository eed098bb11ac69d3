/**
 * A value as a chart's table shows it: up to 3 decimals, a dash for none. A module of its own,
 * so an app that takes only this from the charts entry does not bundle the table component.
 */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return '–';
  return String(Math.round(v * 1000) / 1000);
}
