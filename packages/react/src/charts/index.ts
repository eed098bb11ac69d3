/**
 * `@switchboard/react/charts`: live charts of metric subscriptions, drawn with uPlot. A
 * separate entry point, so apps without charts do not ship the chart library.
 */
export { MetricChart, type MetricChartProps } from './metric-chart.js';
export { formatValue, MetricTable, tableRows } from './metric-table.js';
export { MetricWindow } from './metric-window.js';
export { canDraw, TimeChart, type TimeChartOptions } from './time-chart.js';
