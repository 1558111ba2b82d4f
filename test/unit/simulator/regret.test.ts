import { describe, expect, it } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { generateHistory } from '../../../services/simulator/history.ts';
import { InMemoryEngine } from '../../../services/simulator/in-memory-engine.ts';
import { createPopulation } from '../../../services/simulator/population.ts';
import { formatRegretTable, policyName, runRegretSimulation, weeklyTrigger } from '../../../services/simulator/regret.ts';

const START = Date.UTC(2025, 2, 3);

describe('runRegretSimulation (the engine deciding in a closed loop against the ground truth)', () => {
  const greedy = policyName(0);
  const exploring = policyName(0.05);

  it('runs deterministically and reports every week', { timeout: 60_000 }, async () => {
    const options = { recipients: 80, weeks: 3, seed: 'regret-shape', historyWeeks: 2, explorationShares: [0, 0.05] };
    const report = await runRegretSimulation(options);
    expect(report.weeks).toHaveLength(3);
    for (const week of report.weeks) {
      expect(week.triggers).toBe(80);
      expect(week.oracle).toBeGreaterThan(0);
      for (const name of [greedy, exploring]) {
        // The oracle is the best candidate the engine could choose, so no policy beats it on average.
        expect(week.policies[name]!.regret).toBeGreaterThanOrEqual(0);
        expect(Object.values(week.policies[name]!.reasons).reduce((sum, count) => sum + (count ?? 0), 0)).toBe(80);
      }
      expect(week.policies[greedy]!.reasons.EXPLORATION ?? 0).toBe(0);
    }
    const again = await runRegretSimulation(options);
    expect(again.weeks).toEqual(report.weeks);
    expect(formatRegretTable(report)).toContain('regret');
  });

  it('learns: regret over the late weeks is lower than in the first week and far lower than the legacy schedule and random slots', { timeout: 120_000 }, async () => {
    // Little prior history, so what the policy's own sends reveal is what it learns from.
    const report = await runRegretSimulation({ recipients: 250, weeks: 6, seed: 'regret-learn', historyWeeks: 1, explorationShares: [0, 0.05] });
    for (const name of [greedy, exploring]) {
      const summary = report.summary.policies[name]!;
      expect(summary.lateRegret).toBeLessThan(summary.firstWeekRegret - 0.01);
      expect(summary.lateRegret).toBeLessThan(report.summary.legacyRegret / 2);
      expect(summary.lateRegret).toBeLessThan(report.summary.randomRegret / 2);
    }
    expect(report.weeks.reduce((sum, week) => sum + (week.policies[exploring]!.reasons.EXPLORATION ?? 0), 0)).toBeGreaterThan(0);
    // Thin-history fallbacks give way to optimized decisions as responses come back.
    const fallbacks = (week: number) => report.weeks[week]!.policies[greedy]!.reasons.FALLBACK_THIN_HISTORY ?? 0;
    expect(fallbacks(5)).toBeLessThan(fallbacks(0));
  });
});

describe('InMemoryEngine', () => {
  it('forks into an engine that decides like the original on the same state', async () => {
    const population = createPopulation({ size: 30, seed: 'fork', startMs: START });
    const config = compileEngineConfig({ STO_HOLDOUT_SHARE: '0' });
    const engine = new InMemoryEngine(config, 3);
    for (const event of generateHistory(population, { seed: 'fork', endMs: START, weeks: 3 })) await engine.applyEngagement(event, event.occurredAt);
    const fork = await engine.fork(config);
    for (const recipient of population) {
      const trigger = weeklyTrigger(recipient, 0, START, 'fork');
      expect(await fork.decide(trigger)).toEqual(await engine.decide(trigger));
      expect(await engine.decide(trigger, { settle: false })).toEqual(await engine.decide(trigger));
    }
  });
});
