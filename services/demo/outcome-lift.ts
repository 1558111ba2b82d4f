import type { CampaignReport } from '../outcomes/campaign-report.ts';
import type { DemoSend } from './summary.ts';

const percent = (x: number) => `${(100 * x).toFixed(1)}%`;
const points = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;

/**
 * The demo's lift line as a user would see it (the campaign report, computed by the outcomes
 * stage from the outcome events), beside what only the simulation knows (each recipient's true
 * chance to open at the slot they were sent), and whether the truth lies inside the report's interval.
 */
export function formatOutcomeLift(report: CampaignReport, sends: readonly DemoSend[], windowHours: number): { text: string; agrees: boolean } {
  const newsletter = sends.filter((send) => send.campaignId === report.campaignId && send.releasedAt !== null);
  const trueChance = (arm: DemoSend['arm']) => {
    const group = newsletter.filter((send) => send.arm === arm);
    return group.reduce((sum, send) => sum + send.expectedOpen, 0) / Math.max(1, group.length);
  };
  const truth = trueChance('TREATMENT') - trueChance('CONTROL');
  const open = report.rates.open;
  const difference = open.difference;
  const agrees = difference !== null && difference.low <= truth && truth <= difference.high;
  const lines = [
    `Lift from the campaign report (the outcome events, what a user sees: npm run report -- --campaign ${report.campaignId}):`,
    `  opens within ${windowHours} h of delivery: treatment ${percent(open.treatment.rate)} (n=${open.treatment.sends}), holdout ${percent(open.control.rate)} (n=${open.control.sends})`,
    difference
      ? `  treatment - holdout: ${points(difference.estimate)} points, 95% interval [${points(difference.low)}, ${points(difference.high)}]; always-valid 95% [${points(open.sequential!.low)}, ${points(open.sequential!.high)}]`
      : '  treatment - holdout: too few sends in an arm for an interval',
    `  simulator's ground truth: ${points(truth)} points (true chances ${percent(trueChance('TREATMENT'))} vs ${percent(trueChance('CONTROL'))}): ${agrees ? 'inside' : 'OUTSIDE'} the report's interval`,
    `  clicks ${percent(report.rates.click.treatment.rate)} vs ${percent(report.rates.click.control.rate)}, conversions ${percent(report.rates.conversion.treatment.rate)} vs ${percent(report.rates.conversion.control.rate)}` +
      Object.entries(report.revenuePerRecipient).map(([currency, r]) => `, revenue per recipient ${r.treatment.rate.toFixed(2)} vs ${r.control.rate.toFixed(2)} ${currency}`).join(''),
  ];
  const atDefault = report.offPolicy.find((estimate) => estimate.policy === 'default-time' && estimate.metric === 'open');
  if (atDefault) {
    lines.push(
      atDefault.estimate
        ? `  off-policy, everyone at the default time (${report.defaultLocalHour}h): ${percent(atDefault.estimate.estimate)} [${percent(atDefault.estimate.low)}, ${percent(atDefault.estimate.high)}] from ${atDefault.explorationSends} exploration sends (the holdout measured ${percent(open.control.rate)})`
        : `  off-policy, everyone at the default time: withheld (${atDefault.withheld})`,
    );
  }
  return { text: lines.join('\n'), agrees };
}
