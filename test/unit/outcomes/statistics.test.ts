import { describe, expect, it } from 'vitest';
import type { SendOutcome } from '../../../services/shared/contracts/record-types.ts';
import { addOutcome, decodeAggregate, emptyAggregate, encodeAggregate, mergeAggregate } from '../../../services/outcomes/campaign-aggregate.ts';
import { campaignReports, reportOf } from '../../../services/outcomes/campaign-report.ts';
import { confidenceSequence, differenceInterval, type MeanSums } from '../../../services/outcomes/statistics.ts';
import { SeededRandom } from '../../../services/simulator/seeded-random.ts';
import { sampleOutcome } from '../../support/sample-records.ts';

const add = (s: MeanSums, y: number) => {
  s.n++;
  s.sum += y;
  s.sumSq += y * y;
};
const covers = (e: { low: number; high: number } | null, truth: number) => e !== null && e.low <= truth && truth <= e.high;

describe('the report\'s intervals cover the truth in simulation', () => {
  it('the fixed-sample 95% interval of a rate difference covers about 95% of the time', () => {
    const rng = new SeededRandom(['fixed-interval']);
    let covered = 0;
    const trials = 400;
    for (let trial = 0; trial < trials; trial++) {
      const t: MeanSums = { n: 0, sum: 0, sumSq: 0 };
      const c: MeanSums = { n: 0, sum: 0, sumSq: 0 };
      for (let i = 0; i < 800; i++) add(t, rng.chance(0.12) ? 1 : 0);
      for (let i = 0; i < 800; i++) add(c, rng.chance(0.1) ? 1 : 0);
      if (covers(differenceInterval(t, c), 0.02)) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.92);
    expect(covered / trials).toBeLessThan(0.98);
  });

  it('the confidence sequence, looked at after every 25 sends, excludes the truth at some look in at most 5% of runs; the fixed interval looked at as often does far more', () => {
    const rng = new SeededRandom(['sequence']);
    const trials = 300;
    let sequenceMissed = 0;
    let fixedMissed = 0;
    for (let trial = 0; trial < trials; trial++) {
      const t: MeanSums = { n: 0, sum: 0, sumSq: 0 };
      const c: MeanSums = { n: 0, sum: 0, sumSq: 0 };
      let sequenceMiss = false;
      let fixedMiss = false;
      for (let i = 1; i <= 2_000; i++) {
        // Revenue-like outcome: mostly 0, sometimes a skewed amount; the same law in both arms.
        const draw = () => (rng.chance(0.2) ? rng.between(0, 50) : 0);
        add(i % 2 === 0 ? t : c, draw());
        if (i % 25 !== 0 || i < 100) continue;
        if (!covers(confidenceSequence(t, c, 2_000), 0)) sequenceMiss = true;
        if (!covers(differenceInterval(t, c), 0)) fixedMiss = true;
      }
      if (sequenceMiss) sequenceMissed++;
      if (fixedMiss) fixedMissed++;
    }
    expect(sequenceMissed / trials).toBeLessThanOrEqual(0.05);
    expect(fixedMissed / trials).toBeGreaterThan(0.15);
  });
});

describe('off-policy estimates (self-normalized IPW) from logged propensities', () => {
  const SLOTS = 12;
  const rates = Array.from({ length: SLOTS }, (_, hour) => 0.1 + 0.02 * hour);
  const GREEDY = 9;
  const SHARE = 0.3;

  /** Sends of an epsilon-greedy logging policy over 12 hourly slots starting at 08:00 local, outcomes drawn from known rates. */
  function loggedSends(seed: string, count: number): SendOutcome[] {
    const rng = new SeededRandom([seed]);
    const sends: SendOutcome[] = [];
    for (let i = 0; i < count; i++) {
      const explore = rng.chance(SHARE);
      const slot = explore ? rng.below(SLOTS) : GREEDY;
      const propensity = SHARE / SLOTS + (1 - SHARE) * (slot === GREEDY ? 1 : 0);
      const opened = rng.chance(rates[slot]!);
      const base = sampleOutcome(i);
      sends.push({
        ...base,
        campaignId: 'c',
        channel: 'EMAIL',
        arm: 'TREATMENT',
        reason: explore ? 'EXPLORATION' : 'OPTIMIZED',
        exploration: explore,
        propensity,
        localSendHour: 8 + slot,
        triggeredAt: base.sendAt - slot * 3_600_000,
        status: 'DELIVERED',
        firstOpenAt: opened ? base.sendAt + 60_000 : null,
      });
    }
    return sends;
  }

  it('the estimate of "everyone at 08:00" covers that slot\'s true rate in about 95% of runs, and the optimizer\'s covers its slot\'s', () => {
    const trials = 150;
    let defaultCovered = 0;
    let optimizerCovered = 0;
    for (let trial = 0; trial < trials; trial++) {
      const aggregate = emptyAggregate('c', 'EMAIL');
      for (const send of loggedSends(`ope-${trial}`, 6_000)) addOutcome(aggregate, send);
      // A holdout at 08:00 tells the report which hour the default time is.
      aggregate.hours.CONTROL[8] = 50;
      const report = reportOf(aggregate, { sequentialTunedSends: 1_000, minExplorationSends: 30 });
      expect(report.defaultLocalHour).toBe(8);
      const byPolicy = (policy: string) => report.offPolicy.find((e) => e.policy === policy && e.metric === 'open')!;
      if (covers(byPolicy('default-time').estimate, rates[0]!)) defaultCovered++;
      if (covers(byPolicy('optimizer').estimate, rates[GREEDY]!)) optimizerCovered++;
    }
    expect(defaultCovered / trials).toBeGreaterThan(0.9);
    expect(optimizerCovered / trials).toBeGreaterThan(0.9);
  });

  it('says how many exploration sends an estimate rests on and withholds it below the minimum', () => {
    const aggregate = emptyAggregate('c', 'EMAIL');
    const sends = loggedSends('few', 400);
    for (const send of sends) addOutcome(aggregate, send);
    aggregate.hours.CONTROL[8] = 1;
    const exploredAtEight = sends.filter((s) => s.exploration && s.localSendHour === 8).length;
    const report = reportOf(aggregate, { sequentialTunedSends: 1_000, minExplorationSends: exploredAtEight + 1 });
    const atDefault = report.offPolicy.find((e) => e.policy === 'default-time' && e.metric === 'open')!;
    expect(atDefault).toMatchObject({ explorationSends: exploredAtEight, estimate: null });
    expect(atDefault.withheld).toMatch(/fewer than/);
    const allowed = reportOf(aggregate, { sequentialTunedSends: 1_000, minExplorationSends: exploredAtEight }).offPolicy.find((e) => e.policy === 'default-time' && e.metric === 'open')!;
    expect(allowed.estimate).not.toBeNull();
  });

  it('partials of different partitions merge into the report of the whole campaign (and survive their encoding)', () => {
    const sends = loggedSends('merge', 600);
    const whole = emptyAggregate('c', 'EMAIL');
    const parts = [emptyAggregate('c', 'EMAIL'), emptyAggregate('c', 'EMAIL'), emptyAggregate('c', 'EMAIL')];
    sends.forEach((send, i) => {
      addOutcome(whole, send);
      addOutcome(parts[i % 3]!, send);
    });
    const options = { sequentialTunedSends: 1_000, minExplorationSends: 1 };
    const merged = campaignReports(parts.map((part) => decodeAggregate(encodeAggregate(part))), 'c', options);
    expect(merged).toHaveLength(1);
    // Sums added in another order differ in the last bits only.
    const rounded = (value: unknown) => JSON.parse(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(10)) : v)));
    expect(rounded(merged[0])).toEqual(rounded(reportOf(whole, options)));
    const copy = emptyAggregate('c', 'EMAIL');
    mergeAggregate(copy, whole);
    expect(copy.arms.TREATMENT.sends).toBe(600);
  });
});
