import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class DelayMetrics {
  readonly pending: Gauge;
  readonly lateness: Histogram;
  readonly releases: Counter<'channel'>;
  readonly rateLimitDelay: Histogram<'channel'>;
  readonly cancelled: Counter<'cause'>;
  readonly expired: Counter<'channel'>;
  readonly deferred: Counter<'channel'>;
  readonly deadLetters: Counter<'topic' | 'code'>;
  readonly quarantined: Counter;

  constructor(registry: Registry) {
    this.pending = new Gauge({ name: 'sto_delay_pending', help: 'Scheduled sends waiting for their instant.', registers: [registry] });
    this.lateness = new Histogram({
      name: 'sto_delay_release_lateness_seconds',
      help: 'Release time minus scheduled send time (never negative).',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300],
      registers: [registry],
    });
    this.releases = new Counter({ name: 'sto_delay_releases_total', help: 'Sends released to the ready topic, by channel.', labelNames: ['channel'], registers: [registry] });
    this.rateLimitDelay = new Histogram({
      name: 'sto_delay_rate_limit_delay_seconds',
      help: 'How far past their slot sends of rate-limited channels were released.',
      labelNames: ['channel'],
      buckets: [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
      registers: [registry],
    });
    this.expired = new Counter({ name: 'sto_delay_expired_total', help: 'Sends not released because they were reached after their expiresAt (recorded on the unreleased topic), by channel.', labelNames: ['channel'], registers: [registry] });
    this.deferred = new Counter({ name: 'sto_delay_deferred_total', help: 'Late sends held at release because the recipient was inside their quiet hours, by channel.', labelNames: ['channel'], registers: [registry] });
    this.cancelled = new Counter({ name: 'sto_delay_cancelled_total', help: 'Pending sends removed, by cause (cancel, erasure).', labelNames: ['cause'], registers: [registry] });
    this.quarantined = new Counter({
      name: 'sto_delay_quarantined_total',
      help: 'Stored pending sends that could not be read: removed and sent to the dead-letter topic with their key and bytes.',
      registers: [registry],
    });
    this.deadLetters = new Counter({
      name: 'sto_dead_letters_total',
      help: 'Records sent to a dead-letter topic, by source topic and error code.',
      labelNames: ['topic', 'code'],
      registers: [registry],
    });
  }
}
