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
  readonly unreleased: Counter<'outcome' | 'channel'>;
  readonly capMoves: Counter<'channel'>;
  readonly engagementEvents: Counter<'outcome'>;
  readonly watermarkWait: Histogram;
  readonly watermarkTimeouts: Counter;

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
    this.unreleased = new Counter({
      name: 'sto_delay_unreleased_total',
      help: 'Sends taken out without release, each recorded on the unreleased topic, by outcome (EXPIRED, STOPPED, SUPPRESSED, CAPPED, ERASED, CANCELLED) and channel.',
      labelNames: ['outcome', 'channel'],
      registers: [registry],
    });
    this.capMoves = new Counter({ name: 'sto_delay_cap_moves_total', help: 'Due sends moved to a later instant because a release now would break their frequency caps, by channel.', labelNames: ['channel'], registers: [registry] });
    this.engagementEvents = new Counter({
      name: 'sto_delay_engagement_events_total',
      help: 'Engagement events read by the delay service, by outcome: applied (a stop, suppression or re-subscribe type), skipped (other types), undecodable (skipped; the engine dead-letters them).',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.watermarkWait = new Histogram({
      name: 'sto_delay_stop_watermark_wait_seconds',
      help: 'How long a release waited for its partition to apply every engagement event appended before the sends were due.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    this.watermarkTimeouts = new Counter({
      name: 'sto_delay_stop_watermark_timeouts_total',
      help: 'Releases that went ahead after STO_DELAY_STOP_WAIT_MS without their partition catching up with the engagement topic (a stop appended before the instant may be missed).',
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
