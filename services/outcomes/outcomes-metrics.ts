import { Counter, Gauge, type Registry } from 'prom-client';

export class OutcomesMetrics {
  readonly events: Counter<'outcome'>;
  readonly sends: Counter<'source'>;
  readonly closed: Counter<'status'>;
  readonly open: Gauge;
  readonly aggregatesPublished: Counter;
  readonly deadLetters: Counter<'topic' | 'code'>;
  readonly quarantined: Counter;

  constructor(registry: Registry) {
    this.events = new Counter({
      name: 'sto_outcomes_events_total',
      help: 'Engagement events read by the outcomes stage, by outcome: attributed by schedule_id, message_id or latest_send; duplicate, before_send, unknown_send, unattributed, closed_send, ignored_type.',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.sends = new Counter({ name: 'sto_outcomes_send_records_total', help: 'Scheduled, ready and unreleased records applied to open sends, by source; closed_send: a record of a send already closed, ignored.', labelNames: ['source'], registers: [registry] });
    this.closed = new Counter({ name: 'sto_outcomes_closed_total', help: 'Sends whose conversion window closed and whose outcome was emitted, by status.', labelNames: ['status'], registers: [registry] });
    this.open = new Gauge({ name: 'sto_outcomes_open_sends', help: 'Sends whose conversion window is still open, on the partitions this instance owns.', registers: [registry] });
    this.aggregatesPublished = new Counter({ name: 'sto_outcomes_aggregates_published_total', help: 'Partial campaign aggregates published to the campaign aggregates topic.', registers: [registry] });
    this.quarantined = new Counter({ name: 'sto_outcomes_quarantined_total', help: 'Stored send records or aggregates that could not be read: started fresh, their key and bytes sent to the dead-letter topic.', registers: [registry] });
    this.deadLetters = new Counter({ name: 'sto_dead_letters_total', help: 'Records sent to a dead-letter topic, by source topic and error code.', labelNames: ['topic', 'code'], registers: [registry] });
  }
}
