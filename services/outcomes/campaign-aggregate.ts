import type { SendOutcome } from '../shared/contracts/record-types.ts';
import { addIpw, emptyIpw, mergeIpw, type IpwSums, type MeanSums } from './statistics.ts';

export const METRICS = ['open', 'click', 'conversion'] as const;
export type Metric = (typeof METRICS)[number];
export const ARMS = ['TREATMENT', 'CONTROL'] as const;
export type ReportArm = (typeof ARMS)[number];

/** One arm's closed, released sends (the rates' denominator): binary outcomes and revenue per send. */
export interface ArmSums {
  sends: number;
  delivered: number;
  opens: number;
  clicks: number;
  conversions: number;
  machineOpens: number;
  bounces: number;
  complaints: number;
  unsubscribes: number;
  /** Per currency: Σ value and Σ value² of each send's converted value (a send without conversion adds 0). */
  revenue: Record<string, { sum: number; sumSq: number }>;
}

/**
 * A campaign and channel's aggregate over the sends of one partition (a partial) or of all of
 * them (partials merged). Counting is additive, so partials of different partitions merge by
 * adding; the report derives every figure from the merged sums.
 */
export interface CampaignAggregate {
  campaignId: string;
  channel: string;
  /** Closed sends by `${arm}/${reason}`, including those not released. */
  sends: Record<string, number>;
  arms: Record<ReportArm, ArmSums>;
  /** Local send hour histogram of each arm's released sends. */
  hours: Record<ReportArm, number[]>;
  /** Closed sends by the decision's binding constraint (QUIET_HOURS*: pushed to the end of quiet hours). */
  binding: Record<string, number>;
  expired: number;
  /** Taken out without release for another reason (suppression, caps, stops, cancels, erasure). */
  notReleased: number;
  /** Every send taken out without release, by reason (EXPIRED, STOPPED, SUPPRESSED, CAPPED, NOT_RELEASED). */
  unreleased: Record<string, number>;
  /** Off-policy sums of the logging policy's sends (arm TREATMENT, reason OPTIMIZED or EXPLORATION). */
  offPolicy: {
    /** Sends whose slot was the optimizer's first choice. */
    optimizer: Record<Metric, IpwSums>;
    /** Sends in the first 24 h of their window, by local send hour: the default-time policy picks one hour. */
    byHour: Array<Record<Metric, IpwSums>>;
  };
}

const emptyArm = (): ArmSums => ({ sends: 0, delivered: 0, opens: 0, clicks: 0, conversions: 0, machineOpens: 0, bounces: 0, complaints: 0, unsubscribes: 0, revenue: {} });
const emptyMetrics = (): Record<Metric, IpwSums> => ({ open: emptyIpw(), click: emptyIpw(), conversion: emptyIpw() });

export function emptyAggregate(campaignId: string, channel: string): CampaignAggregate {
  return {
    campaignId,
    channel,
    sends: {},
    arms: { TREATMENT: emptyArm(), CONTROL: emptyArm() },
    hours: { TREATMENT: new Array<number>(24).fill(0), CONTROL: new Array<number>(24).fill(0) },
    binding: {},
    expired: 0,
    notReleased: 0,
    unreleased: {},
    offPolicy: { optimizer: emptyMetrics(), byHour: Array.from({ length: 24 }, emptyMetrics) },
  };
}

const DAY_MS = 86_400_000;

function outcomeValue(outcome: SendOutcome, metric: Metric): 0 | 1 {
  if (metric === 'open') return outcome.firstOpenAt !== null ? 1 : 0;
  if (metric === 'click') return outcome.firstClickAt !== null ? 1 : 0;
  return outcome.conversions > 0 ? 1 : 0;
}

/** Adds one closed send's outcome (the aggregate is changed in place). */
export function addOutcome(aggregate: CampaignAggregate, outcome: SendOutcome): void {
  const label = `${outcome.arm}/${outcome.reason}`;
  aggregate.sends[label] = (aggregate.sends[label] ?? 0) + 1;
  if (outcome.bindingConstraint) aggregate.binding[outcome.bindingConstraint] = (aggregate.binding[outcome.bindingConstraint] ?? 0) + 1;
  if (outcome.status === 'EXPIRED') aggregate.expired++;
  if (outcome.status !== 'DELIVERED' && outcome.status !== 'UNDELIVERED') {
    if (outcome.status !== 'EXPIRED') aggregate.notReleased++;
    aggregate.unreleased[outcome.status] = (aggregate.unreleased[outcome.status] ?? 0) + 1;
  }
  if (outcome.status !== 'DELIVERED' && outcome.status !== 'UNDELIVERED') return;
  if (outcome.arm !== 'TREATMENT' && outcome.arm !== 'CONTROL') return;
  const arm = aggregate.arms[outcome.arm];
  arm.sends++;
  if (outcome.status === 'DELIVERED') arm.delivered++;
  arm.opens += outcomeValue(outcome, 'open');
  arm.clicks += outcomeValue(outcome, 'click');
  arm.conversions += outcomeValue(outcome, 'conversion');
  arm.machineOpens += outcome.machineOpens > 0 ? 1 : 0;
  arm.bounces += outcome.bounced ? 1 : 0;
  arm.complaints += outcome.complained ? 1 : 0;
  arm.unsubscribes += outcome.unsubscribed ? 1 : 0;
  if (outcome.currency !== null) {
    const revenue = (arm.revenue[outcome.currency] ??= { sum: 0, sumSq: 0 });
    revenue.sum += outcome.value;
    revenue.sumSq += outcome.value * outcome.value;
  }
  if (outcome.localSendHour !== null) aggregate.hours[outcome.arm][outcome.localSendHour]!++;
  const logged = outcome.arm === 'TREATMENT' && (outcome.reason === 'OPTIMIZED' || outcome.reason === 'EXPLORATION');
  if (!logged || outcome.propensity === null || !(outcome.propensity > 0)) return;
  const greedy = outcome.reason === 'OPTIMIZED' || (outcome.exploration && greedyOf(outcome));
  for (const metric of METRICS) {
    const y = outcomeValue(outcome, metric);
    if (greedy) addIpw(aggregate.offPolicy.optimizer[metric], outcome.propensity, y, outcome.exploration);
    if (outcome.localSendHour !== null && outcome.triggeredAt !== null && outcome.sendAt - outcome.triggeredAt < DAY_MS) {
      addIpw(aggregate.offPolicy.byHour[outcome.localSendHour]![metric], outcome.propensity, y, outcome.exploration);
    }
  }
}

/**
 * Whether an exploration send landed on the optimizer's own first choice: its propensity then
 * holds the greedy share (1 − ε + ε/k) and exceeds every other slot's (ε/k).
 */
function greedyOf(outcome: SendOutcome): boolean {
  return outcome.propensity !== null && outcome.propensity > 0.5;
}

/** The revenue per send of one arm in one currency, as sums for a mean. */
export function revenueSums(arm: ArmSums, currency: string): MeanSums {
  const revenue = arm.revenue[currency] ?? { sum: 0, sumSq: 0 };
  return { n: arm.sends, sum: revenue.sum, sumSq: revenue.sumSq };
}

/** Adds `from` into `into` (partials of different partitions). */
export function mergeAggregate(into: CampaignAggregate, from: CampaignAggregate): void {
  const add = (a: Record<string, number>, b: Record<string, number>) => {
    for (const [key, value] of Object.entries(b)) a[key] = (a[key] ?? 0) + value;
  };
  add(into.sends, from.sends);
  add(into.binding, from.binding);
  add(into.unreleased, from.unreleased);
  into.expired += from.expired;
  into.notReleased += from.notReleased;
  for (const armName of ARMS) {
    const a = into.arms[armName];
    const b = from.arms[armName];
    for (const key of ['sends', 'delivered', 'opens', 'clicks', 'conversions', 'machineOpens', 'bounces', 'complaints', 'unsubscribes'] as const) a[key] += b[key];
    for (const [currency, revenue] of Object.entries(b.revenue)) {
      const target = (a.revenue[currency] ??= { sum: 0, sumSq: 0 });
      target.sum += revenue.sum;
      target.sumSq += revenue.sumSq;
    }
    from.hours[armName].forEach((count, hour) => (into.hours[armName][hour] = (into.hours[armName][hour] ?? 0) + count));
  }
  for (const metric of METRICS) {
    mergeIpw(into.offPolicy.optimizer[metric], from.offPolicy.optimizer[metric]);
    from.offPolicy.byHour.forEach((sums, hour) => mergeIpw(into.offPolicy.byHour[hour]![metric], sums[metric]));
  }
}

export function encodeAggregate(aggregate: CampaignAggregate): Buffer {
  return Buffer.from(JSON.stringify(aggregate));
}

export function decodeAggregate(bytes: Buffer): CampaignAggregate {
  const aggregate = JSON.parse(bytes.toString('utf8')) as CampaignAggregate;
  if (typeof aggregate?.campaignId !== 'string' || !aggregate.arms?.TREATMENT || !aggregate.offPolicy?.byHour) throw new Error('not a campaign aggregate');
  // Partials written before reasons were kept count their sends as expired or not released only.
  aggregate.unreleased ??= {};
  return aggregate;
}

/** The aggregates topic's key of one partition's partial: campaign first, so a campaign's partials sort together. */
export function partialKey(campaignId: string, channel: string, partition: number): string {
  return JSON.stringify([campaignId, channel, partition]);
}
