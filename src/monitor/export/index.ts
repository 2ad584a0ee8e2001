/**
 * Export of monitoring data: the Prometheus text exposition (`/metrics`) and remote write (protobuf
 * WriteRequest + snappy, version 1) to one or more destinations routed by selectors.
 */
export { createMetricsExporter, exportLabels, type MetricsExporter, type MetricsExporterOptions } from './exporter.js';
export { CONTENT_TYPE, escapeHelp, escapeLabelValue, formatExposition, formatValue, type ExpositionSample, type MetricFamily, type MetricType } from './exposition.js';
export { MetricRegistry, registerProcessMetrics, type Counter } from './own-metrics.js';
export { parseDestinationSpec, remoteWriteSchema } from './destinations.js';
export { DESTINATION_DEFAULTS, RemoteWriteDestination, redactUrl, type DestinationConfig, type DestinationStats, type DropReason } from './remote-write.js';
export { matchesAll, parseSelector, type CompiledMatcher } from './selector.js';
export { buildWriteRequest, decodeWriteRequest, encodeWriteRequest, REMOTE_WRITE_HEADERS, type ExportSample } from './write-request.js';
export { registerTsdbMetrics } from './tsdb-metrics.js';
