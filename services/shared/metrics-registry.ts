import { Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC_PREFIX = 'sto_';

/** A fresh registry per service instance (never the prom-client global one). */
export function createMetricsRegistry(service: string, options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}
