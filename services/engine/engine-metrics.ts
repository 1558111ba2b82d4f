import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The engine's own metrics (the runner adds the stream and state metrics). No recipient ids in labels. */
export class EngineMetrics {
  readonly engagements: Counter<'outcome' | 'signal'>;
  readonly decisions: Counter<'reason' | 'channel'>;
  readonly decisionSeconds: Histogram;
  readonly triggerToDecisionSeconds: Histogram;
  readonly erasures: Counter;
  readonly triggersIgnored: Counter<'reason'>;
  readonly corruptState: Counter<'kind'>;
  readonly unknownSymbols: Counter<'contract' | 'field'>;
  readonly deadLetters: Counter<'topic' | 'code'>;
  readonly priorsPublished: Counter<'kind'>;
  readonly populationPrior: Gauge<'measure'>;
  readonly priorsWithheld: Counter<'level'>;
  readonly campaignSettingsInvalid: Counter;

  constructor(registry: Registry) {
    this.priorsPublished = new Counter({
      name: 'sto_engine_priors_published_total',
      help: 'Partial aggregates this instance published to the priors topic (kind: partial, or tombstone for one emptied by erasure).',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.priorsWithheld = new Counter({
      name: 'sto_engine_priors_withheld_total',
      help: 'Decisions whose cohort or population prior (level) existed but pooled fewer than STO_ENGINE_PRIOR_MIN_RECIPIENTS recipients, so it was not used.',
      labelNames: ['level'],
      registers: [registry],
    });
    this.campaignSettingsInvalid = new Counter({
      name: 'sto_engine_campaign_settings_invalid_total',
      help: 'Records of the campaign settings topic that did not decode or validate and were skipped (the campaign keeps its last valid settings).',
      registers: [registry],
    });
    this.populationPrior = new Gauge({
      name: 'sto_engine_population_prior',
      help: 'The population prior as this instance reads it from the priors topic, summed over all partitions: distinct recipients and events it pools (measure).',
      labelNames: ['measure'],
      registers: [registry],
    });
    this.engagements = new Counter({
      name: 'sto_engine_engagement_events_total',
      help: 'Engagement events by outcome (applied, duplicate, too_old, too_new, ignored, erased, unknown_symbol) and signal.',
      labelNames: ['outcome', 'signal'],
      registers: [registry],
    });
    this.decisions = new Counter({
      name: 'sto_engine_decisions_total',
      help: 'Send-time decisions by reason and channel.',
      labelNames: ['reason', 'channel'],
      registers: [registry],
    });
    this.decisionSeconds = new Histogram({
      name: 'sto_engine_decision_seconds',
      help: 'Time to score and decide one trigger (state reads included).',
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers: [registry],
    });
    this.triggerToDecisionSeconds = new Histogram({
      name: 'sto_engine_trigger_to_decision_seconds',
      help: 'From the trigger record timestamp to its decision being made.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    this.erasures = new Counter({ name: 'sto_engine_erasures_total', help: 'Erasure requests applied.', registers: [registry] });
    this.triggersIgnored = new Counter({
      name: 'sto_engine_triggers_ignored_total',
      help: 'Triggers not decided, by reason (erased: from before the recipient was erased).',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.corruptState = new Counter({
      name: 'sto_engine_corrupt_state_total',
      help: 'Stored values that did not decode, by kind (recipient, aggregate, erasure_marker): dead-lettered with key and bytes, the key started fresh.',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.unknownSymbols = new Counter({
      name: 'sto_engine_unknown_symbols_total',
      help: 'Enum fields that held a symbol this engine does not know (a newer writer\'s, read as UNKNOWN), by contract and field.',
      labelNames: ['contract', 'field'],
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
