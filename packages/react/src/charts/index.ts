/**
 * `@switchboard/react/charts`: live charts of metric subscriptions, drawn with uPlot. A
 * separate entry point, so apps without charts do not ship the chart library.
 */

export { formatValue } from './format-value.js';
export { MetricChart, type MetricChartProps } from './metric-chart.js';
export { MetricTable, tableRows } from './metric-table.js';
export { MetricWindow } from './metric-window.js';
export { canDraw, TimeChart, type TimeChartOptions } from './time-chart.js';
