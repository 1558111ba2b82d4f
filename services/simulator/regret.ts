import { Worker } from 'node:worker_threads';
import { compileEngineConfig } from '../engine/config.ts';
import type { DecisionReason, EngagementEvent, SendTrigger } from '../shared/contracts/record-types.ts';
import type { Env } from '../shared/config/env-reader.ts';
import { EventQueue } from './event-queue.ts';
import { generateHistory, LEGACY_DEFAULT_LOCAL_MINUTE, organicSessions, type LegacySlot } from './history.ts';
import { InMemoryEngine } from './in-memory-engine.ts';
import { createPopulation, DEFAULT_START_MS, type SimRecipient } from './population.ts';
import { candidateSendTimes, expectedOpen, oracleSlot, respondToSend, sendEventOf } from './respond.ts';
import { SeededRandom } from './seeded-random.ts';
import { resolveLocalWall } from '../model/time/instant-of-local.ts';
import { nextLocalMinuteAtOrAfter } from '../model/time/next-local-time.ts';

// Closed-loop measurement of the real decision path against the ground truth. Each simulated
// week every recipient gets one trigger; the engine's own state and decision code (in memory)
// picks the slot; the recipient's simulated response flows back into the state, so the model
// learns from what its own choices revealed. Regret = the oracle slot's expected opens minus the
// chosen slot's, averaged per trigger.

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;

export interface RegretOptions {
  recipients: number;
  weeks: number;
  seed: string | number;
  startMs?: number;
  /** Weeks of legacy-schedule history before the first trigger. */
  historyWeeks?: number;
  /** One policy run per share (a fresh copy of the post-history state each). */
  explorationShares?: readonly number[];
  windowHours?: number;
  schedule?: readonly LegacySlot[];
  /** Engine settings (STO_ENGINE_* variables); exploration and holdout shares are set per run. */
  engineEnv?: Env;
  /** Run each policy in its own worker thread (each replays the history: more CPU, less wall time on idle cores). */
  workers?: boolean;
  /** Progress lines for a terminal; silent when absent. */
  onProgress?: (message: string) => void;
}

export interface PolicyWeek {
  /** Mean expected human opens (within the arrival window) per trigger at the chosen slots. */
  expectedOpen: number;
  /** Mean of oracle minus chosen per trigger. */
  regret: number;
  reasons: Partial<Record<DecisionReason, number>>;
}

export interface RegretWeek {
  week: number;
  weekStartMs: number;
  triggers: number;
  oracle: number;
  legacy: number;
  random: number;
  legacyRegret: number;
  randomRegret: number;
  /** Keyed by policy name, e.g. "sto-explore-0%". */
  policies: Record<string, PolicyWeek>;
}

export interface PolicySummary {
  firstWeekRegret: number;
  /** Mean regret over the second half of the weeks. */
  lateRegret: number;
  meanRegret: number;
}

export interface RegretReport {
  options: { recipients: number; weeks: number; seed: string; startMs: number; historyWeeks: number; windowHours: number; explorationShares: number[] };
  historyEvents: number;
  weeks: RegretWeek[];
  summary: { legacyRegret: number; randomRegret: number; policies: Record<string, PolicySummary> };
  elapsedMs: number;
}

interface SimTrigger {
  trigger: SendTrigger;
  recipient: SimRecipient;
  week: number;
  oracle: number;
  legacy: number;
  random: number;
}

export function policyName(explorationShare: number): string {
  return `sto-explore-${Math.round(explorationShare * 1000) / 10}%`;
}

/** One trigger per recipient per week: a random day, a random local morning minute (06:00-11:59), a 24 h window. */
export function weeklyTrigger(recipient: SimRecipient, week: number, weekStartMs: number, seed: string | number, windowHours = 24): SendTrigger {
  const rng = new SeededRandom(['trigger', seed, recipient.recipientId, week]);
  const day = Math.floor(weekStartMs / DAY_MS) + rng.below(7);
  const minute = 360 + rng.below(360);
  const occurredAt = resolveLocalWall(day * DAY_MS + minute * 60_000, recipient.timeZone).epochMs;
  return {
    triggerId: `sim-trigger-${seed}-${recipient.recipientId}-w${week}`,
    recipientId: recipient.recipientId,
    campaignId: `sim-campaign-w${week}`,
    messageId: null,
    channel: 'EMAIL',
    triggerKind: 'CAMPAIGN',
    urgency: 'NORMAL',
    occurredAt,
    timeZone: recipient.timeZone,
    windowHours,
    sendAt: null,
    quietHours: null,
    quietHoursPolicy: null,
    defaultLocalMinute: LEGACY_DEFAULT_LOCAL_MINUTE,
    objective: 'OPEN',
    // The holdout arm is measured beside the policy (legacy and random columns), not inside it.
    holdoutShare: 0,
    payload: Buffer.alloc(0),
    attributes: {},
  };
}

/** Where the legacy schedule would have sent the trigger: its default local time in the window, else the window start. */
export function legacySendTime(trigger: SendTrigger, timeZone: string): number {
  const endMs = trigger.occurredAt + (trigger.windowHours ?? 24) * HOUR_MS;
  const atMs = nextLocalMinuteAtOrAfter(trigger.occurredAt, trigger.defaultLocalMinute ?? LEGACY_DEFAULT_LOCAL_MINUTE, timeZone);
  return atMs <= endMs ? atMs : trigger.occurredAt;
}

/** The options a policy run needs, resolved and structured-cloneable (they cross into worker threads). */
export interface RegretSettings {
  recipients: number;
  weeks: number;
  seed: string;
  startMs: number;
  historyWeeks: number;
  windowHours: number;
  schedule: readonly LegacySlot[] | null;
  engineEnv: Record<string, string | undefined>;
}

interface SimWorld {
  population: SimRecipient[];
  /** History before the start, to replay into the engine. */
  history: EngagementEvent[];
  historyEvents: number;
  /** The world's own events after the start: late responses to legacy sends and organic sessions. */
  worldEvents: EngagementEvent[];
  /** In decision order. */
  triggers: SimTrigger[];
}

export interface PolicyRun {
  historyEvents: number;
  /** Expected opens of the chosen send time, per trigger in decision order. */
  expected: Float64Array;
  reasons: DecisionReason[];
}

export function resolveRegretSettings(options: RegretOptions): RegretSettings {
  return {
    recipients: options.recipients,
    weeks: options.weeks,
    seed: String(options.seed),
    startMs: options.startMs ?? DEFAULT_START_MS,
    historyWeeks: options.historyWeeks ?? 8,
    windowHours: options.windowHours ?? 24,
    schedule: options.schedule ?? null,
    engineEnv: { ...options.engineEnv },
  };
}

/** Population, history, the world's own events and every trigger with its baselines: all deterministic from the settings. */
function buildWorld(settings: RegretSettings): SimWorld {
  const { seed, startMs } = settings;
  const endMs = startMs + settings.weeks * WEEK_MS;
  const population = createPopulation({ size: settings.recipients, seed, startMs });
  const history = generateHistory(population, { seed, endMs: startMs, weeks: settings.historyWeeks, ...(settings.schedule ? { schedule: settings.schedule } : {}) });
  const worldEvents: EngagementEvent[] = history.filter((event) => event.occurredAt >= startMs);
  for (const recipient of population) worldEvents.push(...organicSessions(recipient, startMs, endMs + 2 * DAY_MS, seed));
  const triggers = buildTriggers(settings, population);
  return { population, history: history.filter((event) => event.occurredAt < startMs), historyEvents: history.length, worldEvents, triggers };
}

/** Every week's trigger of every recipient, with the oracle, legacy and random baselines, in decision order. */
function buildTriggers(settings: RegretSettings, population: readonly SimRecipient[]): SimTrigger[] {
  const { seed, startMs, windowHours } = settings;
  const triggers: SimTrigger[] = [];
  for (let week = 0; week < settings.weeks; week++) {
    const weekStartMs = startMs + week * WEEK_MS;
    for (const recipient of population) {
      const trigger = weeklyTrigger(recipient, week, weekStartMs, seed, windowHours);
      const windowEndMs = trigger.occurredAt + windowHours * HOUR_MS;
      const candidates = candidateSendTimes(recipient, trigger.occurredAt, windowEndMs);
      const randomAt = candidates[new SeededRandom(['random-slot', seed, trigger.triggerId]).below(candidates.length)]!;
      triggers.push({
        trigger,
        recipient,
        week,
        oracle: oracleSlot(recipient, trigger.occurredAt, windowEndMs).expectedOpen,
        legacy: expectedOpen(recipient, legacySendTime(trigger, recipient.timeZone)),
        random: expectedOpen(recipient, randomAt),
      });
    }
  }
  return triggers.sort((a, b) => a.trigger.occurredAt - b.trigger.occurredAt || (a.trigger.triggerId < b.trigger.triggerId ? -1 : 1));
}

function engineConfigFor(settings: RegretSettings, explorationShare: number) {
  return compileEngineConfig({ ...settings.engineEnv, STO_EXPLORATION_SHARE: String(explorationShare), STO_HOLDOUT_SHARE: '0' });
}

async function engineWithHistory(world: SimWorld, settings: RegretSettings, explorationShare: number): Promise<InMemoryEngine> {
  const engine = new InMemoryEngine(engineConfigFor(settings, explorationShare));
  for (const event of world.history) await engine.applyEngagement(event, event.occurredAt);
  return engine;
}

/** Runs the triggers in time order through the engine, feeding each send's simulated response back. */
async function runPolicy(engine: InMemoryEngine, world: SimWorld, seed: string): Promise<PolicyRun> {
  const queue = new EventQueue();
  for (const event of world.worldEvents) queue.push(event);
  const expected = new Float64Array(world.triggers.length);
  const reasons: DecisionReason[] = [];
  for (const [index, item] of world.triggers.entries()) {
    for (let event = queue.popUntil(item.trigger.occurredAt); event !== null; event = queue.popUntil(item.trigger.occurredAt)) {
      await engine.applyEngagement(event, event.occurredAt);
    }
    const decision = await engine.decide(item.trigger, { settle: false });
    if (typeof decision === 'string') throw new Error(`simulated trigger ${item.trigger.triggerId} is invalid: ${decision}`);
    const send = { sendAtMs: decision.sendAtMs, channel: item.trigger.channel, scheduleId: decision.scheduleId, campaignId: item.trigger.campaignId };
    queue.push(sendEventOf(item.recipient, send));
    for (const event of respondToSend(item.recipient, send, seed)) queue.push(event);
    expected[index] = expectedOpen(item.recipient, decision.sendAtMs);
    reasons.push(decision.reason);
  }
  return { historyEvents: world.historyEvents, expected, reasons };
}

/** One policy from scratch (what a worker thread runs): builds the same world, replays history, runs. */
export async function runPolicyAlone(settings: RegretSettings, explorationShare: number): Promise<PolicyRun> {
  const world = buildWorld(settings);
  return runPolicy(await engineWithHistory(world, settings, explorationShare), world, settings.seed);
}

function runPolicyInWorker(settings: RegretSettings, explorationShare: number): Promise<PolicyRun> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./policy-worker.ts', import.meta.url), { workerData: { settings, explorationShare } });
    worker.once('message', (run: PolicyRun) => resolve(run));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`policy worker (exploration ${explorationShare}) exited with code ${code}`));
    });
  });
}

export async function runRegretSimulation(options: RegretOptions): Promise<RegretReport> {
  const began = performance.now();
  const settings = resolveRegretSettings(options);
  const { startMs, historyWeeks, windowHours, seed } = settings;
  const shares = [...(options.explorationShares ?? [0, 0.05])];
  const progress = options.onProgress ?? (() => undefined);
  const elapsed = () => `${((performance.now() - began) / 1000).toFixed(1)} s`;

  const chosen = new Map<string, PolicyRun>();
  let triggers: SimTrigger[];
  let historyEvents: number;
  if (options.workers) {
    // Each worker rebuilds the (deterministic) world and replays the history in its own thread;
    // this thread needs only the triggers and their baselines.
    const runs = shares.map((share) =>
      runPolicyInWorker(settings, share).then((run) => {
        progress(`${policyName(share)} done (${elapsed()})`);
        return run;
      }),
    );
    triggers = buildTriggers(settings, createPopulation({ size: settings.recipients, seed, startMs }));
    progress(`${triggers.length} triggers over ${settings.weeks} weeks; policies running in ${shares.length} worker threads (${elapsed()})`);
    const results = await Promise.all(runs);
    shares.forEach((share, index) => chosen.set(policyName(share), results[index]!));
    historyEvents = results[0]?.historyEvents ?? 0;
  } else {
    const world = buildWorld(settings);
    triggers = world.triggers;
    historyEvents = world.historyEvents;
    progress(`population ${world.population.length}, history ${historyEvents} events over ${historyWeeks} weeks, ${triggers.length} triggers over ${settings.weeks} weeks (${elapsed()})`);
    const base = await engineWithHistory(world, settings, 0);
    progress(`history applied (${elapsed()})`);
    for (const share of shares) {
      chosen.set(policyName(share), await runPolicy(await base.fork(engineConfigFor(settings, share)), world, seed));
      progress(`${policyName(share)} done (${elapsed()})`);
    }
  }

  const weeks: RegretWeek[] = [];
  for (let week = 0; week < options.weeks; week++) {
    const indices = triggers.flatMap((item, index) => (item.week === week ? [index] : []));
    const mean = (value: (index: number) => number) => indices.reduce((sum, index) => sum + value(index), 0) / (indices.length || 1);
    const oracle = mean((i) => triggers[i]!.oracle);
    const legacy = mean((i) => triggers[i]!.legacy);
    const random = mean((i) => triggers[i]!.random);
    const policies: Record<string, PolicyWeek> = {};
    for (const [name, run] of chosen) {
      const reasons: Partial<Record<DecisionReason, number>> = {};
      for (const index of indices) reasons[run.reasons[index]!] = (reasons[run.reasons[index]!] ?? 0) + 1;
      const value = mean((i) => run.expected[i]!);
      policies[name] = { expectedOpen: value, regret: oracle - value, reasons };
    }
    weeks.push({ week: week + 1, weekStartMs: startMs + week * WEEK_MS, triggers: indices.length, oracle, legacy, random, legacyRegret: oracle - legacy, randomRegret: oracle - random, policies });
  }

  const late = weeks.slice(Math.floor(weeks.length / 2));
  const average = (items: readonly RegretWeek[], value: (week: RegretWeek) => number) => items.reduce((sum, week) => sum + value(week), 0) / (items.length || 1);
  const policies: Record<string, PolicySummary> = {};
  for (const name of chosen.keys()) {
    policies[name] = {
      firstWeekRegret: weeks[0]?.policies[name]?.regret ?? 0,
      lateRegret: average(late, (week) => week.policies[name]!.regret),
      meanRegret: average(weeks, (week) => week.policies[name]!.regret),
    };
  }
  return {
    options: { recipients: options.recipients, weeks: options.weeks, seed, startMs, historyWeeks, windowHours, explorationShares: shares },
    historyEvents,
    weeks,
    summary: { legacyRegret: average(weeks, (week) => week.legacyRegret), randomRegret: average(weeks, (week) => week.randomRegret), policies },
    elapsedMs: Math.round(performance.now() - began),
  };
}

/** The report as a fixed-width table: expected opens per trigger (%) and regret (percentage points). */
export function formatRegretTable(report: RegretReport): string {
  const names = Object.keys(report.summary.policies);
  const pct = (value: number) => (value * 100).toFixed(2).padStart(7);
  const header = ['week', ' triggers', ' oracle', ' legacy', ' random', ...names.map((name) => ` ${short(name)}`.padStart(9))].join('');
  const regretHeader = ['  | regret:', ' legacy', ' random', ...names.map((name) => ` ${short(name)}`.padStart(9)), '  | optimized/fallback/explore (first policy with exploration)'].join('');
  const lines = [
    `Send-time regret, ${report.options.recipients} recipients x ${report.options.weeks} weeks, seed ${report.options.seed}, ${report.options.historyWeeks} weeks of legacy history (${report.historyEvents} events), ${report.options.windowHours} h windows, OPEN objective, EMAIL.`,
    'Expected human opens within the arrival window per trigger (%); regret = oracle - policy (percentage points).',
    '',
    header + regretHeader,
  ];
  const explorer = names.find((name, index) => report.options.explorationShares[index]! > 0) ?? names[0];
  for (const week of report.weeks) {
    const reasons = explorer ? week.policies[explorer]!.reasons : {};
    const share = (reason: DecisionReason) => `${Math.round(((reasons[reason] ?? 0) / (week.triggers || 1)) * 100)}%`;
    lines.push(
      [
        String(week.week).padStart(4),
        String(week.triggers).padStart(9),
        pct(week.oracle),
        pct(week.legacy),
        pct(week.random),
        ...names.map((name) => pct(week.policies[name]!.expectedOpen).padStart(9)),
        '  |        ',
        pct(week.legacyRegret),
        pct(week.randomRegret),
        ...names.map((name) => pct(week.policies[name]!.regret).padStart(9)),
        `  | ${share('OPTIMIZED')}/${share('FALLBACK_THIN_HISTORY')}/${share('EXPLORATION')}`,
      ].join(''),
    );
  }
  lines.push('');
  lines.push(`Mean regret: legacy ${pct(report.summary.legacyRegret).trim()} pp, random ${pct(report.summary.randomRegret).trim()} pp.`);
  for (const [name, summary] of Object.entries(report.summary.policies)) {
    lines.push(`${name}: week 1 ${pct(summary.firstWeekRegret).trim()} pp, second half ${pct(summary.lateRegret).trim()} pp, all weeks ${pct(summary.meanRegret).trim()} pp.`);
  }
  lines.push(`(${(report.elapsedMs / 1000).toFixed(1)} s)`);
  return lines.join('\n');
}

function short(name: string): string {
  return name.replace('sto-explore-', 'sto ');
}
