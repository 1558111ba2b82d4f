/**
 * The main job: the whole loop on the real local stack, in a few minutes.
 *
 *   npm run demo [-- --recipients 3000 --weeks 12 --speedup 1440 --keep-running]
 *
 * Starts (or reuses) the local Kafka and registry, creates a fresh set of topics, starts the
 * engine, publishes months of simulated engagement history, triggers campaigns of every kind,
 * starts the delay service on an accelerated clock, plays the sender (it consumes ready sends and
 * reports engagement back by each recipient's true habit), then prints a summary.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import { bootstrap } from '../bootstrap/bootstrap.ts';
import { publishSettings } from '../bootstrap/publish-settings.ts';
import { localSlotOf } from '../model/time/local-slot.ts';
import { readCommonConfig, suffixedTopics, topicEnvironment, type TopicsConfig } from '../shared/config/common-config.ts';
import { EnvReader } from '../shared/config/env-reader.ts';
import type { EngagementEvent, ReadySend, ScheduledSend, SendTrigger, UnreleasedSend } from '../shared/contracts/record-types.ts';
import { createSchemaCodec, type SchemaCodec, type Writer } from '../shared/contracts/schema-codec.ts';
import { valueSubject } from '../shared/contracts/schema-files.ts';
import { createKafka } from '../shared/kafka/kafka-client.ts';
import { createLogger } from '../shared/logger.ts';
import { generateHistory, LEGACY_DEFAULT_LOCAL_MINUTE } from '../simulator/history.ts';
import { createPopulation, type SimRecipient } from '../simulator/population.ts';
import { conversionAfter, expectedOpen, respondToSend, sendEventOf } from '../simulator/respond.ts';
import type { CampaignReport } from '../outcomes/campaign-report.ts';
import { DEFAULT_ARRIVAL_WINDOW_HOURS } from '../simulator/population.ts';
import { CART_CAMPAIGN, CART_HORIZON_HOURS, CART_SETTINGS, cartAnswer, cartTrigger, formatCartSummary, type CartAnswer, type CartStep } from './cart-recovery.ts';
import { ChildService } from './child-service.ts';
import { formatOutcomeLift } from './outcome-lift.ts';
import { formatSummary, type DemoSend } from './summary.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOUR_MS = 3_600_000;

const { values: args } = parseArgs({
  options: {
    recipients: { type: 'string', default: '3000' },
    weeks: { type: 'string', default: '12' },
    speedup: { type: 'string', default: '1440' },
    seed: { type: 'string', default: 'demo' },
    'keep-running': { type: 'boolean', default: false },
  },
});
const RECIPIENTS = positiveInteger('--recipients', args.recipients);
const WEEKS = positiveInteger('--weeks', args.weeks);
const SPEEDUP = positiveInteger('--speedup', args.speedup);

function positiveInteger(name: string, value: string | undefined): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) {
    process.stderr.write(`demo: ${name} must be a positive integer, got "${value}"\n`);
    process.exit(2);
  }
  return number;
}

function say(message: string): void {
  process.stdout.write(`${message}\n`);
}

/** A progress line that rewrites itself on a terminal. */
function progress(message: string): void {
  if (process.stdout.isTTY) process.stdout.write(`\r\x1b[2K${message}`);
}

function progressDone(message: string): void {
  if (process.stdout.isTTY) process.stdout.write('\r\x1b[2K');
  say(message);
}

function stack(command: 'start' | 'stop' | 'status'): { code: number; settings: Record<string, string> } {
  const result = spawnSync('bash', [join(ROOT, 'infra/stack.sh'), command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const settings: Record<string, string> = {};
  for (const line of (result.stdout ?? '').split('\n')) {
    const match = /^(STO_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) settings[match[1]!] = match[2]!;
  }
  return { code: result.status ?? 1, settings };
}

async function waitUntil(what: string, condition: () => Promise<boolean> | boolean, timeoutMs: number, show: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s: ${what}`);
    progress(show());
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function produce<T>(producer: Producer, codec: SchemaCodec, writer: Writer, topic: string, records: readonly T[], key: (record: T) => string, onProgress?: (done: number) => void): Promise<void> {
  for (let at = 0; at < records.length; at += 2_000) {
    const slice = records.slice(at, at + 2_000);
    await producer.send({ topic, messages: slice.map((record) => ({ key: key(record), value: codec.encode(writer, record) })) });
    onProgress?.(at + slice.length);
  }
}

/** The campaigns of the demo: one per recipient, and a few more of each special kind. */
function campaignTriggers(population: readonly SimRecipient[], now: number): SendTrigger[] {
  const base = (recipient: SimRecipient, index: number): SendTrigger => ({
    triggerId: `demo-t-${index}`,
    recipientId: recipient.recipientId,
    campaignId: 'winter-newsletter',
    messageId: `winter-newsletter-${recipient.recipientId}`,
    channel: 'EMAIL',
    triggerKind: 'CAMPAIGN',
    urgency: 'NORMAL',
    occurredAt: now,
    timeZone: recipient.timeZone,
    windowHours: 24,
    sendAt: null,
    quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 },
    quietHoursPolicy: null,
    defaultLocalMinute: LEGACY_DEFAULT_LOCAL_MINUTE,
    objective: 'OPEN',
    holdoutShare: 0.2,
    payload: Buffer.from(`newsletter for ${recipient.recipientId}`),
    attributes: {},
  });
  const triggers = population.map(base);
  population.forEach((recipient, index) => {
    if (index % 5 === 0) triggers.push({ ...base(recipient, index), triggerId: `demo-push-${index}`, campaignId: 'app-feature', channel: 'PUSH', windowHours: 48, holdoutShare: 0.1, quietHours: { startMinute: 22 * 60, endMinute: 7 * 60 } });
    if (index % 10 === 0) triggers.push(cartTrigger(recipient, index, now));
    if (index % 50 === 0) triggers.push({ ...base(recipient, index), triggerId: `demo-fixed-${index}`, campaignId: 'webinar-reminder', sendAt: now + 6 * HOUR_MS, holdoutShare: 0 });
  });
  return triggers;
}

/** The newsletter's report from the outcomes stage's admin server (null until it has one). */
async function newsletterReport(adminPort: number): Promise<CampaignReport | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${adminPort}/campaigns/winter-newsletter/report`, { signal: AbortSignal.timeout(10_000) });
    if (response.status !== 200) return null;
    return ((await response.json()) as { channels: CampaignReport[] }).channels.find((channel) => channel.channel === 'EMAIL') ?? null;
  } catch {
    return null;
  }
}

async function consumeAll<T>(kafka: Kafka, codec: SchemaCodec, topic: string, contract: 'scheduled' | 'ready' | 'unreleased', onRecord: (record: T) => Promise<void> | void): Promise<Consumer> {
  const consumer = kafka.consumer({ groupId: `${topic}.demo`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      await onRecord(await codec.decode<T>(contract, message.value));
    },
  });
  return consumer;
}

async function main(): Promise<void> {
  const started = Date.now();
  say(`STO demo: ${RECIPIENTS.toLocaleString('en-US')} simulated recipients, ${WEEKS} weeks of history, delay clock ${SPEEDUP}x\n`);

  say('1/6 local stack (Kafka KRaft + Apicurio Registry) ...');
  const wasRunning = stack('status').code === 0;
  const { code, settings } = stack('start');
  if (code !== 0) throw new Error('the local stack did not start (see the messages above)');
  const ownsStack = !wasRunning;

  const runId = `demo.${Date.now().toString(36)}`;
  const topics: TopicsConfig = suffixedTopics(runId);
  const stateRoot = join(ROOT, '.demo', runId);
  await mkdir(stateRoot, { recursive: true });
  const env = { ...settings, ...topicEnvironment(topics), STO_LOG_LEVEL: 'warn' };
  const reader = new EnvReader({ ...process.env, ...env });
  const common = reader.done(readCommonConfig(reader, 'demo', 0));
  const logger = createLogger('demo', 'warn');
  const kafka = createKafka(common.kafka, logger);
  const codec = createSchemaCodec(common.registry);

  say(`2/6 topics and schemas (suffix .${runId}) ...`);
  await bootstrap({ common, partitions: 4 }, logger);
  // The cart-recovery campaign's sequence and stop rules live in its settings, not in its triggers.
  await publishSettings({ common, partitions: 4 }, logger, { publish: [CART_SETTINGS] });

  const engine = new ChildService({
    name: 'engine',
    entry: ChildService.entry('engine'),
    // Simulated responses carry event times up to two days ahead of the wall clock.
    env: { ...env, STO_STATE_DIR: join(stateRoot, 'engine'), STO_ENGINE_GROUP_ID: `${runId}.engine`, STO_ENGINE_MAX_FUTURE_MINUTES: '4320' },
    adminPort: 19_801,
    logPath: join(stateRoot, 'engine.log'),
  });
  const delay = new ChildService({
    name: 'delay',
    entry: ChildService.entry('delay'),
    env: { ...env, STO_STATE_DIR: join(stateRoot, 'delay'), STO_DELAY_GROUP_ID: `${runId}.delay`, STO_DELAY_CLOCK_SPEEDUP: String(SPEEDUP) },
    adminPort: 19_802,
    logPath: join(stateRoot, 'delay.log'),
  });
  // The outcomes stage reads the history first on a real-time clock (catching up on it would
  // otherwise hold back the sends' responses past their windows), then closes each send's window
  // on the same accelerated clock as the releases, restarted beside the delay service.
  const outcomesEnv = {
    ...env,
    STO_STATE_DIR: join(stateRoot, 'outcomes'),
    STO_OUTCOMES_GROUP_ID: `${runId}.outcomes`,
    STO_INSTANCE_ID: `${runId}.outcomes`,
    STO_KAFKA_SESSION_TIMEOUT_MS: '6000',
    STO_OUTCOMES_CONVERSION_WINDOW_HOURS: String(DEFAULT_ARRIVAL_WINDOW_HOURS),
    // Generous: the stage may lag the sender by seconds, and a second is 24 simulated minutes.
    STO_OUTCOMES_LATE_GRACE_MINUTES: '360',
    STO_OUTCOMES_DELIVERY_WAIT_HOURS: '1',
    STO_OUTCOMES_MIN_EXPLORATION_SENDS: '30',
  };
  const outcomesCatchUp = new ChildService({ name: 'outcomes', entry: ChildService.entry('outcomes'), env: outcomesEnv, adminPort: 19_803, logPath: join(stateRoot, 'outcomes.log') });
  const outcomes = new ChildService({ name: 'outcomes', entry: ChildService.entry('outcomes'), env: { ...outcomesEnv, STO_OUTCOMES_CLOCK_SPEEDUP: String(SPEEDUP) }, adminPort: 19_803, logPath: join(stateRoot, 'outcomes.log') });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumers: Consumer[] = [];
  let keep = false;
  try {
    await producer.connect();
    say('3/6 engine ...');
    engine.start();
    outcomesCatchUp.start();
    await Promise.all([engine.waitReady(120_000), outcomesCatchUp.waitReady(120_000)]);
    say(`    engine ready: admin and /metrics on http://127.0.0.1:${engine.adminPort}`);

    const now = Date.now();
    const population = createPopulation({ size: RECIPIENTS, seed: args.seed!, startMs: now });
    const history = generateHistory(population, { seed: args.seed!, endMs: now, weeks: WEEKS });
    const kinds = new Map<string, number>();
    for (const recipient of population) kinds.set(recipient.kind, (kinds.get(recipient.kind) ?? 0) + 1);
    say(`4/6 history: ${history.length.toLocaleString('en-US')} engagement events (${[...kinds].map(([kind, count]) => `${count} ${kind}`).join(', ')})`);
    const engagementWriter = await codec.writer('engagement', valueSubject(topics.engagement));
    await produce(producer, codec, engagementWriter, topics.engagement, history, (event) => event.recipientId, (done) => progress(`    published ${done.toLocaleString('en-US')} / ${history.length.toLocaleString('en-US')}`));
    const applied = () => engine.metric('sto_stream_records_total', { topic: topics.engagement });
    await waitUntil('the engine consumes the history', async () => (await applied()) >= history.length, 30 * 60_000, () => `    engine applied ... (${history.length.toLocaleString('en-US')} to go through)`);
    progressDone(`    engine consumed the history (${((Date.now() - now) / 1000).toFixed(0)} s)`);
    const outcomesRead = () => outcomesCatchUp.metric('sto_stream_records_total', { topic: topics.engagement });
    await waitUntil('the outcomes stage reads the history', async () => (await outcomesRead()) >= history.length, 30 * 60_000, () => '    outcomes stage reading the history ...');
    await outcomesCatchUp.stop();
    progressDone('    outcomes stage read the history (sends made outside the pipeline: counted, not attributed)');

    const byId = new Map(population.map((recipient) => [recipient.recipientId, recipient]));
    const triggerNow = Date.now();
    const triggers = campaignTriggers(population, triggerNow);
    const triggerById = new Map(triggers.map((trigger) => [trigger.triggerId, trigger]));
    // Keyed by schedule id: the steps of one cart's sequence share its trigger.
    const sends = new Map<string, DemoSend>();
    const cartSteps = new Map<string, CartStep>();
    const cartAnswers = new Map<string, CartAnswer>();
    const unreleased = new Set<string>();
    say(`5/6 triggers: ${triggers.length.toLocaleString('en-US')} (newsletter email with quiet hours and a 20% holdout, push, urgent SMS cart recovery, explicit sendAt)`);
    consumers.push(
      await consumeAll<ScheduledSend>(kafka, codec, topics.scheduled, 'scheduled', (send) => {
        const trigger = triggerById.get(send.triggerId);
        const recipient = byId.get(send.recipientId);
        if (!trigger || !recipient) return;
        if (send.campaignId === CART_CAMPAIGN) cartSteps.set(send.scheduleId, { correlationId: send.correlationId ?? '', recipientId: send.recipientId, step: send.step ?? 1, releasedAt: null, unreleased: null });
        sends.set(send.scheduleId, {
          triggerId: send.triggerId,
          campaignId: send.campaignId,
          channel: send.channel,
          reason: send.reason,
          arm: send.arm,
          sendAt: send.sendAt,
          localHour: localSlotOf(send.sendAt, recipient.timeZone).localHour,
          expectedOpen: expectedOpen(recipient, send.sendAt),
          releasedAt: null,
          opened: null,
        });
      }),
    );
    const triggerWriter = await codec.writer('trigger', valueSubject(topics.triggers));
    await produce(producer, codec, triggerWriter, topics.triggers, triggers, (trigger) => trigger.recipientId);
    const decisions = () => engine.metric('sto_engine_decisions_total');
    // A cart's trigger is decided once per step of its sequence.
    const expectedDecisions = triggers.length + (CART_SETTINGS.steps.length - 1) * triggers.filter((trigger) => trigger.campaignId === CART_CAMPAIGN).length;
    await waitUntil('the engine decides every trigger', async () => (await decisions()) >= expectedDecisions, 10 * 60_000, () => `    decisions ...`);
    progressDone(`    engine decided ${triggers.length.toLocaleString('en-US')} triggers (${expectedDecisions.toLocaleString('en-US')} sends with the cart sequences' steps)`);

    // The sender: every ready send is "delivered", and the recipient responds by their habit.
    let released = 0;
    let feedback = 0;
    const readyUrgent: ReadySend[] = [];
    consumers.push(
      await consumeAll<ReadySend>(kafka, codec, topics.ready, 'ready', async (ready) => {
        const recipient = byId.get(ready.recipientId);
        if (!recipient) return;
        released++;
        const known = sends.get(ready.scheduleId);
        if (known) known.releasedAt = ready.releasedAt;
        else readyUrgent.push(ready);
        const send = { sendAtMs: ready.sendAt, channel: ready.channel, scheduleId: ready.scheduleId, campaignId: ready.campaignId, messageId: ready.messageId };
        const responses: EngagementEvent[] = [sendEventOf(recipient, send), ...respondToSend(recipient, send, `${args.seed}:${ready.scheduleId}`)];
        const conversion = conversionAfter(recipient, send, responses, `${args.seed}:${ready.scheduleId}`);
        if (conversion) responses.push(conversion);
        if (ready.campaignId === CART_CAMPAIGN) {
          // A step released at once (urgent, allowed hour) never passed the scheduled topic.
          const correlationId = triggerById.get(ready.triggerId)?.correlationId ?? '';
          const step = cartSteps.get(ready.scheduleId) ?? { correlationId, recipientId: ready.recipientId, step: 1, releasedAt: null, unreleased: null };
          step.releasedAt = ready.releasedAt;
          cartSteps.set(ready.scheduleId, step);
          const answer = cartAnswers.has(correlationId) ? null : cartAnswer(recipient, ready, correlationId, args.seed!);
          if (answer) {
            cartAnswers.set(correlationId, { correlationId, eventType: answer.eventType as CartAnswer['eventType'], occurredAt: answer.occurredAt });
            responses.push(answer);
          }
        }
        const windowEnd = ready.sendAt + recipient.truth.arrivalWindowHours * HOUR_MS;
        // The simulator names the human open "<message>:open" (machine opens are ":open:proxy").
        if (known) known.opened = responses.some((event) => event.eventId.endsWith(':open') && event.occurredAt < windowEnd);
        feedback += responses.length;
        await produce(producer, codec, engagementWriter, topics.engagement, responses, (event) => event.recipientId);
      }),
    );
    // The delay service's audit: each scheduled send it took out without releasing it, and why.
    consumers.push(
      await consumeAll<UnreleasedSend>(kafka, codec, topics.unreleased, 'unreleased', (record) => {
        unreleased.add(record.scheduleId);
        const step = cartSteps.get(record.scheduleId);
        if (step) step.unreleased = record.outcome;
      }),
    );
    const expectedScheduled = () => [...sends.values()].length;
    const horizonHours = Math.max(CART_HORIZON_HOURS, ...triggers.map((trigger) => trigger.windowHours ?? 24)) + 12;
    say(`6/6 delay service on a ${SPEEDUP}x clock: ${horizonHours} simulated hours take about ${Math.ceil((horizonHours * 60) / SPEEDUP)} minutes`);
    // Started together: the two accelerated clocks start within the same moment.
    delay.start();
    outcomes.start();
    await Promise.all([delay.waitReady(120_000), outcomes.waitReady(120_000)]);
    const delayStart = Date.now();
    await waitUntil(
      'the delay service releases every scheduled send',
      () => [...sends.entries()].every(([scheduleId, send]) => send.releasedAt !== null || unreleased.has(scheduleId)) && expectedScheduled() > 0,
      ((horizonHours * HOUR_MS) / SPEEDUP) * 2 + 120_000,
      () => {
        const simulated = new Date(delayStart + (Date.now() - delayStart) * SPEEDUP).toISOString().slice(0, 16).replace('T', ' ');
        return `    simulated clock ${simulated} UTC: released ${released.toLocaleString('en-US')}, engagement fed back ${feedback.toLocaleString('en-US')}`;
      },
    );
    progressDone(`    released ${released.toLocaleString('en-US')} sends; fed ${feedback.toLocaleString('en-US')} engagement events back to the engine`);
    const engineApplied = await engine.metric('sto_engine_engagement_events_total', { outcome: 'applied' });
    const newsletterReleased = [...sends.values()].filter((send) => send.campaignId === 'winter-newsletter' && send.releasedAt !== null).length;
    let report: CampaignReport | null = null;
    // Every window closes delivery + window + grace after its release, on the accelerated clock.
    await waitUntil(
      "the outcomes stage closes every newsletter send's window",
      async () => {
        report = await newsletterReport(outcomes.adminPort);
        return report !== null && report.rates.open.treatment.sends + report.rates.open.control.sends >= newsletterReleased;
      },
      ((4 * HOUR_MS) / SPEEDUP) * 2 + 120_000,
      () => `    outcomes closed ... (${newsletterReleased.toLocaleString('en-US')} newsletter sends)`,
    );
    progressDone(`    outcomes stage closed the windows of ${newsletterReleased.toLocaleString('en-US')} newsletter sends`);
    const lateness = await delay.metricsText();

    say('');
    say(
      formatSummary({
        population,
        history,
        sends: [...sends.values()],
        urgentReady: readyUrgent.length,
        speedup: SPEEDUP,
        delayStartMs: delayStart,
        delayMetrics: lateness,
        engineApplied,
        seconds: (Date.now() - started) / 1000,
      }),
    );
    say(formatCartSummary([...cartSteps.values()], [...cartAnswers.values()]).join('\n'));
    const lift = formatOutcomeLift(report!, [...sends.values()], DEFAULT_ARRIVAL_WINDOW_HOURS);
    say('');
    say(lift.text);
    keep = args['keep-running']!;
    if (keep) {
      say(`\nLeft running (--keep-running): engine http://127.0.0.1:${engine.adminPort}/metrics, delay http://127.0.0.1:${delay.adminPort}/metrics, topics *.${runId}.`);
      say('Stop with Ctrl-C; the local stack stays up until `npm run stack -- stop`.');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
  } finally {
    for (const consumer of consumers) await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await outcomes.stop();
    await outcomesCatchUp.stop();
    await delay.stop();
    await engine.stop();
    if (!keep) await rm(stateRoot, { recursive: true, force: true });
    if (ownsStack && !keep) stack('stop');
  }
}

try {
  await main();
  process.exit(0);
} catch (error) {
  process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
