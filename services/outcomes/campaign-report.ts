import { ARMS, emptyAggregate, mergeAggregate, METRICS, revenueSums, type CampaignAggregate, type Metric } from './campaign-aggregate.ts';
import { confidenceSequence, differenceInterval, mean, selfNormalizedIpw, variance, Z_95, type Estimate, type MeanSums } from './statistics.ts';

export interface ReportOptions {
  /** The confidence sequence is tuned to be tightest near this many sends (fixed in advance). */
  sequentialTunedSends: number;
  /** An off-policy estimate resting on fewer exploration sends is withheld. */
  minExplorationSends: number;
}

export interface ArmRate {
  sends: number;
  rate: number;
  /** The arm's own 95% interval (normal approximation). */
  low: number;
  high: number;
}

export interface RateComparison {
  treatment: ArmRate;
  control: ArmRate;
  /** Treatment minus control with its fixed-sample 95% interval (one look at a planned size). */
  difference: Estimate | null;
  /** The same difference with a 95% confidence sequence (valid when looked at every day). */
  sequential: Estimate | null;
}

export interface OffPolicyEstimate {
  policy: 'default-time' | 'optimizer';
  metric: Metric;
  /** Logged sends the target policy agrees with, and how many of them were exploration sends. */
  matchedSends: number;
  explorationSends: number;
  /** Null when it rests on fewer than minExplorationSends exploration sends (`withheld` says why). */
  estimate: Estimate | null;
  withheld: string | null;
}

export interface CampaignReport {
  campaignId: string;
  channel: string;
  sendsByArmAndReason: Record<string, number>;
  rates: Record<Metric, RateComparison>;
  revenuePerRecipient: Record<string, RateComparison>;
  localSendHours: Record<string, number[]>;
  bindingConstraints: Record<string, number>;
  pushedToEndOfQuietHours: number;
  expired: number;
  notReleased: number;
  /** Sends taken out without release, by the delay service's reason. */
  unreleasedByReason: Record<string, number>;
  deliveredShare: Record<string, number>;
  machineOpenSends: Record<string, number>;
  /** The default time's local hour, read off the holdout's send hours (its most common one). */
  defaultLocalHour: number | null;
  offPolicy: OffPolicyEstimate[];
  statistics: { interval: string; sequential: string; offPolicy: string };
}

function compare(treatment: MeanSums, control: MeanSums, options: ReportOptions): RateComparison {
  return {
    treatment: armRate(treatment),
    control: armRate(control),
    difference: differenceInterval(treatment, control),
    sequential: confidenceSequence(treatment, control, options.sequentialTunedSends),
  };
}

function armRate(s: MeanSums): ArmRate {
  const rate = mean(s);
  const half = s.n > 1 ? Z_95 * Math.sqrt(variance(s) / s.n) : Number.POSITIVE_INFINITY;
  return { sends: s.n, rate, low: rate - half, high: rate + half };
}

/** Binary sums: y² = y. */
const binary = (n: number, count: number): MeanSums => ({ n, sum: count, sumSq: count });

function mostCommonHour(histogram: number[]): number | null {
  let best: number | null = null;
  histogram.forEach((count, hour) => {
    if (count > 0 && (best === null || count > histogram[best]!)) best = hour;
  });
  return best;
}

/** Merges a campaign's partials (one per partition and channel) per channel and derives the report of each. */
export function campaignReports(partials: Iterable<CampaignAggregate>, campaignId: string, options: ReportOptions): CampaignReport[] {
  const byChannel = new Map<string, CampaignAggregate>();
  for (const partial of partials) {
    if (partial.campaignId !== campaignId) continue;
    const merged = byChannel.get(partial.channel) ?? emptyAggregate(campaignId, partial.channel);
    mergeAggregate(merged, partial);
    byChannel.set(partial.channel, merged);
  }
  return [...byChannel.values()].sort((a, b) => a.channel.localeCompare(b.channel)).map((aggregate) => reportOf(aggregate, options));
}

export function reportOf(aggregate: CampaignAggregate, options: ReportOptions): CampaignReport {
  const { TREATMENT: treatment, CONTROL: control } = aggregate.arms;
  const counts = { open: 'opens', click: 'clicks', conversion: 'conversions' } as const;
  const rates = {} as Record<Metric, RateComparison>;
  for (const metric of METRICS) rates[metric] = compare(binary(treatment.sends, treatment[counts[metric]]), binary(control.sends, control[counts[metric]]), options);
  const revenuePerRecipient: Record<string, RateComparison> = {};
  for (const currency of new Set([...Object.keys(treatment.revenue), ...Object.keys(control.revenue)]).values()) {
    revenuePerRecipient[currency] = compare(revenueSums(treatment, currency), revenueSums(control, currency), options);
  }
  const defaultLocalHour = mostCommonHour(aggregate.hours.CONTROL);
  const offPolicy: OffPolicyEstimate[] = [];
  for (const metric of METRICS) {
    if (defaultLocalHour !== null) offPolicy.push(offPolicyEstimate('default-time', metric, aggregate.offPolicy.byHour[defaultLocalHour]![metric], options));
    offPolicy.push(offPolicyEstimate('optimizer', metric, aggregate.offPolicy.optimizer[metric], options));
  }
  const share = (part: number, whole: number) => (whole > 0 ? part / whole : 0);
  return {
    campaignId: aggregate.campaignId,
    channel: aggregate.channel,
    sendsByArmAndReason: aggregate.sends,
    rates,
    revenuePerRecipient,
    localSendHours: { ...aggregate.hours },
    bindingConstraints: aggregate.binding,
    pushedToEndOfQuietHours: (aggregate.binding.QUIET_HOURS ?? 0) + (aggregate.binding.QUIET_HOURS_FORCED ?? 0),
    expired: aggregate.expired,
    notReleased: aggregate.notReleased,
    unreleasedByReason: { ...aggregate.unreleased },
    deliveredShare: Object.fromEntries(ARMS.map((arm) => [arm, share(aggregate.arms[arm].delivered, aggregate.arms[arm].sends)])),
    machineOpenSends: Object.fromEntries(ARMS.map((arm) => [arm, aggregate.arms[arm].machineOpens])),
    defaultLocalHour,
    offPolicy,
    statistics: {
      interval: 'Welch normal interval, 95%, for one look at a fixed sample size',
      sequential: `normal-mixture confidence sequence (Robbins mixture, asymptotic form of Waudby-Smith et al. 2021), 95%, tuned for ${options.sequentialTunedSends} sends: valid when looked at after every send`,
      offPolicy: `self-normalized inverse propensity weighting with a delta-method 95% interval, withheld below ${options.minExplorationSends} exploration sends`,
    },
  };
}

function offPolicyEstimate(policy: OffPolicyEstimate['policy'], metric: Metric, sums: Parameters<typeof selfNormalizedIpw>[0], options: ReportOptions): OffPolicyEstimate {
  const base = { policy, metric, matchedSends: sums.n, explorationSends: sums.exploration };
  if (sums.exploration < options.minExplorationSends) {
    return { ...base, estimate: null, withheld: `rests on ${sums.exploration} exploration sends, fewer than ${options.minExplorationSends} (STO_OUTCOMES_MIN_EXPLORATION_SENDS)` };
  }
  return { ...base, estimate: selfNormalizedIpw(sums), withheld: null };
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const interval = (e: Estimate | null, format: (x: number) => string) => (e ? `${format(e.estimate)} [${format(e.low)}, ${format(e.high)}]` : 'n/a');
const points = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(2)} pts`;

/** The report as text for a terminal. */
export function renderReport(report: CampaignReport): string {
  const lines: string[] = [];
  lines.push(`Campaign ${report.campaignId}, channel ${report.channel}`);
  lines.push(`  sends by arm/reason: ${Object.entries(report.sendsByArmAndReason).sort().map(([k, v]) => `${k}=${v}`).join(', ') || 'none'}`);
  const reasons = Object.entries(report.unreleasedByReason).map(([reason, count]) => `${reason.toLowerCase().replace('_', ' ')} ${count}`);
  lines.push(`  pushed to the end of quiet hours: ${report.pushedToEndOfQuietHours}; taken out without release: ${reasons.length > 0 ? reasons.join(', ') : 'none'}`);
  lines.push('  rate          treatment           holdout             difference [95%]                  always-valid [95%]');
  for (const metric of METRICS) {
    const r = report.rates[metric];
    lines.push(
      `  ${metric.padEnd(12)}  ${pct(r.treatment.rate).padStart(7)} of ${String(r.treatment.sends).padEnd(7)} ${pct(r.control.rate).padStart(7)} of ${String(r.control.sends).padEnd(7)} ${interval(r.difference, points).padEnd(33)} ${interval(r.sequential, points)}`,
    );
  }
  for (const [currency, r] of Object.entries(report.revenuePerRecipient)) {
    const money = (x: number) => `${x.toFixed(2)} ${currency}`;
    lines.push(`  revenue/recipient ${money(r.treatment.rate)} vs ${money(r.control.rate)}: difference ${interval(r.difference, money)}, always-valid ${interval(r.sequential, money)}`);
  }
  for (const [arm, histogram] of Object.entries(report.localSendHours)) lines.push(`  local send hours ${arm.padEnd(9)} ${histogram.map((count, hour) => (count ? `${hour}h:${count}` : '')).filter(Boolean).join(' ') || 'none'}`);
  lines.push(`  off-policy (default local hour ${report.defaultLocalHour ?? 'unknown'}):`);
  for (const e of report.offPolicy) {
    lines.push(`    ${e.policy.padEnd(12)} ${e.metric.padEnd(10)} ${e.estimate ? interval(e.estimate, pct) : `withheld: ${e.withheld}`} (${e.matchedSends} matched sends, ${e.explorationSends} exploration)`);
  }
  return lines.join('\n');
}
