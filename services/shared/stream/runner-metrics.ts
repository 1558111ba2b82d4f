import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PartitionStore } from './partition-store.ts';

export type RunnerMetrics = ReturnType<typeof createRunnerMetrics>;

/** The runner's metrics, registered on the service's registry. */
export function createRunnerMetrics(registry: Registry, stores: () => PartitionStore[]) {
  new Gauge({
    name: 'sto_state_store_bytes',
    help: 'Approximate on-disk bytes of the partition stores.',
    registers: [registry],
    async collect() {
      let total = 0;
      for (const store of stores()) total += await store.approximateBytes().catch(() => 0);
      this.set(total);
    },
  });
  return {
    records: new Counter({ name: 'sto_stream_records_total', help: 'Input records by topic and outcome.', labelNames: ['topic', 'outcome'], registers: [registry] }),
    batchSeconds: new Histogram({
      name: 'sto_stream_batch_seconds',
      help: 'Time to process and commit one fetched batch.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    punctuationSeconds: new Histogram({
      name: 'sto_stream_punctuation_seconds',
      help: 'Time of one punctuation pass over the due partitions, commit included.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    punctuationsDropped: new Counter({
      name: 'sto_stream_punctuations_dropped_total',
      help: 'Partitions whose punctuation was not committed because the partition was revoked (or a rebalance began) during it.',
      registers: [registry],
    }),
    lag: new Gauge({ name: 'sto_consumer_lag', help: 'Records behind the high watermark, per input topic and partition.', labelNames: ['topic', 'partition'], registers: [registry] }),
    restoreSeconds: new Histogram({
      name: 'sto_state_restore_seconds',
      help: 'Time to restore partition stores from the changelog on assignment.',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    restoredRecords: new Counter({ name: 'sto_state_restored_records_total', help: 'Changelog records applied during restores.', registers: [registry] }),
    quarantined: new Counter({
      name: 'sto_state_quarantined_total',
      help: 'Unreadable state sent to a dead-letter record instead of blocking: stored values (source=store) and changelog records during restore (source=changelog).',
      labelNames: ['source'],
      registers: [registry],
    }),
    ownedPartitions: new Gauge({ name: 'sto_owned_partitions', help: 'Partition numbers owned by this instance.', registers: [registry] }),
    cacheHits: new Counter({ name: 'sto_state_cache_hits_total', help: 'State reads served by the write-back cache.', registers: [registry] }),
    cacheMisses: new Counter({ name: 'sto_state_cache_misses_total', help: 'State reads that went to LevelDB.', registers: [registry] }),
  };
}
