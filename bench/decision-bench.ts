/**
 * The pure decision path, no Kafka: score a recipient's slots and run the decision flow, as the
 * engine's SendTimeDecider does for every trigger. 2,000 recipients with 40 days of history in
 * ten zones (DST zones among them, and the history and triggers span the October transitions);
 * each trigger asks for a 24-hour window with quiet hours 22:00-08:00.
 *
 *   node bench/decision-bench.ts [--quick] [--section]
 *
 * Prints the rate (the best of several timed passes over the same triggers, after a warm-up) and
 * a digest of every decision made, so that two runs on different code can show that they decided
 * the same.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { decide } from '../services/model/decide.ts';
import { compileDecisionConfig, type DecisionTrigger } from '../services/model/decision-types.ts';
import { applyEngagement, emptyProfile, type ModelChannel, type Profile, type Signal } from '../services/model/profile.ts';
import { DEFAULT_MODEL_PARAMS, isThinHistory, MODEL_VERSION, scoreSlots, type Objective } from '../services/model/score.ts';
import { localSlotOf, localWallMs } from '../services/model/time/local-slot.ts';
import { SeededRandom } from '../services/simulator/seeded-random.ts';
import { formatSection, type BenchSection } from './report.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const RECIPIENTS = 2_000;
const HISTORY_DAYS = 40;
/** History ends here; triggers come in the week after, across the European and US fall-back. */
const HISTORY_END_MS = Date.UTC(2026, 9, 22);
const ZONES = [
  'America/New_York',
  'America/Los_Angeles',
  'America/Sao_Paulo',
  'Europe/Berlin',
  'Europe/London',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Asia/Tokyo',
  'Australia/Sydney',
  'UTC',
] as const;
const QUIET_HOURS = { startMinute: 22 * 60, endMinute: 8 * 60 };
/**
 * The figures of the code before issue 10's faster decisions (commit b5d135b, which added this
 * script to it), measured with this script right before the figures of the new code, on the
 * same machine under the same load.
 */
const PREVIOUS = { label: 'before issue 10 (b5d135b, same script)', decisionsPerSecond: 2_612, decisionsPerCpuSecond: 3_412 };

interface Recipient {
  id: string;
  zone: string;
  profile: Profile;
}

export interface DecisionBenchSetup {
  recipients: Recipient[];
  cohorts: Map<string, Profile>;
  global: Profile;
  triggers: DecisionTrigger[];
}

/** Recipients with a habit hour each, their profiles, the zone cohorts and the population. */
export function buildDecisionBench(triggerCount: number): DecisionBenchSetup {
  const params = DEFAULT_MODEL_PARAMS;
  const aggregateParams = { ...params, refGranularityMs: DAY_MS };
  const cohorts = new Map<string, Profile>(ZONES.map((zone) => [zone, emptyProfile()]));
  const global = emptyProfile();
  const recipients: Recipient[] = [];
  for (let index = 0; index < RECIPIENTS; index++) {
    const random = new SeededRandom(['decision-bench', index]);
    const zone = ZONES[random.below(ZONES.length)]!;
    const habitHour = 6 + random.below(16);
    const profile = emptyProfile();
    profile.timeZone = zone;
    const events: Array<{ atMs: number; channel: ModelChannel; signal: Signal }> = [];
    for (let day = HISTORY_DAYS; day >= 1; day--) {
      const dayStartMs = HISTORY_END_MS - day * DAY_MS;
      // A send most days (the exposure the model discounts), engagement on about two days in three.
      if (random.chance(0.8)) events.push({ atMs: dayStartMs + random.below(24) * HOUR_MS + random.below(3_600) * 1_000, channel: 'EMAIL', signal: 'EXPOSURE' });
      if (!random.chance(0.65)) continue;
      const count = 1 + random.below(4);
      for (let event = 0; event < count; event++) {
        const localHour = Math.min(23.99, Math.max(0, random.normal(habitHour, 2)));
        // Local hour to an instant, roughly: the zone's offset at noon UTC of that day.
        const offsetMs = localWallMs(dayStartMs + 12 * HOUR_MS, zone) - (dayStartMs + 12 * HOUR_MS);
        const atMs = Math.round(dayStartMs + localHour * HOUR_MS - offsetMs);
        const signal: Signal = random.chance(0.2) ? 'CLICK' : random.chance(0.5) ? 'HUMAN_OPEN' : 'SESSION';
        events.push({ atMs, channel: random.chance(0.15) ? 'PUSH' : 'EMAIL', signal });
      }
    }
    events.sort((a, b) => a.atMs - b.atMs);
    for (const event of events) {
      const slot = localSlotOf(event.atMs, zone);
      const input = { slot: slot.hourOfWeek, channel: event.channel, signal: event.signal, atMs: event.atMs, localDay: Math.floor(localWallMs(event.atMs, zone) / DAY_MS) };
      const { firstOfDay } = applyEngagement(profile, input, params);
      applyEngagement(cohorts.get(zone)!, { ...input, firstOfDay }, aggregateParams);
      applyEngagement(global, { ...input, firstOfDay }, aggregateParams);
    }
    recipients.push({ id: `recipient-${index}`, zone, profile });
  }
  const random = new SeededRandom(['decision-bench', 'triggers']);
  const triggers: DecisionTrigger[] = [];
  for (let index = 0; index < triggerCount; index++) {
    const recipient = recipients[random.below(RECIPIENTS)]!;
    const objective: Objective = random.chance(0.25) ? 'CLICK' : 'OPEN';
    triggers.push({
      triggerId: `trigger-${index}`,
      recipientId: recipient.id,
      campaignId: `campaign-${index % 7}`,
      channel: 'EMAIL',
      triggerKind: 'CAMPAIGN',
      urgency: 'NORMAL',
      occurredAtMs: HISTORY_END_MS + random.below(7 * 24 * 60) * 60_000 + random.below(60_000),
      // Half name their zone, half leave it to the learned one.
      timeZone: random.chance(0.5) ? recipient.zone : null,
      windowHours: 24,
      sendAtMs: null,
      quietHours: QUIET_HOURS,
      defaultLocalMinute: 10 * 60,
      objective,
      holdoutShare: null,
      quietHoursPolicy: null,
      payloadBytes: 200,
    });
  }
  return { recipients, cohorts, global, triggers };
}

const DECISION_CONFIG = compileDecisionConfig({ modelVersion: MODEL_VERSION });

/** One decision as the engine makes it: score the slots, then the decision flow. */
function decideOne(setup: DecisionBenchSetup, byId: Map<string, Recipient>, trigger: DecisionTrigger) {
  const recipient = byId.get(trigger.recipientId)!;
  const scored = scoreSlots({
    profile: recipient.profile,
    cohort: setup.cohorts.get(trigger.timeZone ?? recipient.zone) ?? null,
    global: setup.global,
    channel: trigger.channel,
    objective: trigger.objective,
    atMs: trigger.occurredAtMs,
    params: DEFAULT_MODEL_PARAMS,
  });
  const outcome = decide(
    trigger,
    {
      nowMs: trigger.occurredAtMs,
      slotScores: scored.scores,
      thinHistory: isThinHistory(recipient.profile, 3),
      evidence: scored.evidence,
      historyDepth: { events: scored.historyEvents, activeDays: scored.historyActiveDays },
      learnedTimeZone: recipient.profile.timeZone,
    },
    DECISION_CONFIG,
  );
  if (!outcome.ok) throw new Error(`${outcome.invalid.code}: ${outcome.invalid.message}`);
  return outcome.decision;
}

export interface DecisionBenchResult {
  decisionsPerSecond: number;
  /** Every timed pass, decisions/s. */
  passes: number[];
  /**
   * Decisions per second of this process's own CPU time (best pass): what one process does on a
   * core of its own, when other processes share the machine's cores.
   */
  decisionsPerCpuSecond: number;
  triggers: number;
  /** SHA-256 of every decision of one pass, as JSON: equal digests, equal decisions. */
  digest: string;
}

export function measureDecisions(options: { quick?: boolean } = {}): DecisionBenchResult {
  const triggerCount = options.quick ? 4_000 : 20_000;
  const setup = buildDecisionBench(triggerCount);
  const byId = new Map(setup.recipients.map((recipient) => [recipient.id, recipient]));
  const hash = createHash('sha256');
  // Warm-up pass (JIT, caches), which also records what was decided.
  for (const trigger of setup.triggers) hash.update(JSON.stringify(decideOne(setup, byId, trigger)));
  const passes: number[] = [];
  const cpuPasses: number[] = [];
  for (let pass = 0; pass < (options.quick ? 2 : 5); pass++) {
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    let sink = 0;
    for (const trigger of setup.triggers) sink += decideOne(setup, byId, trigger).sendAtMs;
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuStarted);
    if (sink === 0) throw new Error('no decision made');
    passes.push(Math.round(triggerCount / seconds));
    cpuPasses.push(Math.round(triggerCount / ((cpu.user + cpu.system) / 1e6)));
  }
  return { decisionsPerSecond: Math.max(...passes), passes, decisionsPerCpuSecond: Math.max(...cpuPasses), triggers: triggerCount, digest: hash.digest('hex') };
}

/** The section `npm run bench` writes to BENCHMARKS.md. */
export function runDecisionBenchmark(options: { quick?: boolean } = {}): BenchSection {
  const result = measureDecisions(options);
  const aim = '25,000/s or more';
  return {
    title: 'Model: decisions on the pure path',
    method: `Score the slots and run the decision flow as the engine does, no Kafka: ${RECIPIENTS.toLocaleString('en-US')} recipients with ${HISTORY_DAYS} days of history in ${ZONES.length} zones (DST zones among them), ${result.triggers.toLocaleString('en-US')} triggers each with a 24-hour window and quiet hours 22:00-08:00, one process; the best of ${result.passes.length} timed passes after a warm-up (passes: ${result.passes.map((rate) => rate.toLocaleString('en-US')).join(', ')} decisions/s). Per CPU-second counts the process's own CPU time, which other processes on a shared machine do not take. Decision digest ${result.digest.slice(0, 16)}.`,
    figures: [
      { name: 'decisions per second, one process', value: result.decisionsPerSecond, unit: 'decisions/s', previous: { label: PREVIOUS.label, value: PREVIOUS.decisionsPerSecond, unit: 'decisions/s' }, aim, met: result.decisionsPerSecond >= 25_000 },
      { name: 'decisions per CPU-second', value: result.decisionsPerCpuSecond, unit: 'decisions/s', previous: { label: PREVIOUS.label, value: PREVIOUS.decisionsPerCpuSecond, unit: 'decisions/s' }, aim, met: result.decisionsPerCpuSecond >= 25_000 },
    ],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // --section prints the BENCHMARKS.md section; otherwise the raw result as JSON.
  const quick = process.argv.includes('--quick');
  if (process.argv.includes('--section')) process.stdout.write(`${formatSection(runDecisionBenchmark({ quick }))}\n`);
  else process.stdout.write(`${JSON.stringify(measureDecisions({ quick }))}\n`);
}
