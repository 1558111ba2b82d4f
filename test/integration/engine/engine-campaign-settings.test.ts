import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import { scheduleIdOf } from '../../../services/model/hash.ts';
import type { TopicsConfig } from '../../../services/shared/config/common-config.ts';
import type { ReadySend, ScheduledSend, SendTrigger } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { engineEnv, produceRecords } from '../support/engine-fixture.ts';
import { freePort } from '../support/free-port.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { until } from '../support/wait.ts';

// Campaign settings end to end on the real broker and registry: published with the settings
// command (npm run settings), read whole by a running engine, applied to the triggers of the
// campaign with the provenance of every setting, changed and deleted while the engine runs.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HOUR = 3_600_000;
const PARIS = 'Europe/Paris';

const SETTINGS = `
campaigns:
  - campaignId: welcome
    windowHours: 48
    quietHours: { startMinute: 1260, endMinute: 480 }
    defaultLocalMinute: 570        # 09:30 local
    holdoutShare: 0
    expiryGraceMinutes: 60
  - campaignId: newsletter
    optimize: false
    defaultLocalMinute: 600        # 10:00 local
  - campaignId: cart-recovery
    quietHours: { startMinute: 1260, endMinute: 480 }
    holdoutShare: 0
    stopOn:
      - { eventType: CONVERSION, sameCorrelation: true }
      - { eventType: UNSUBSCRIBE }
    caps: { perDay: 2 }
    steps:
      - { startHours: 0, endHours: 1, immediate: true }
      - { startHours: 20, endHours: 28 }
      - { startHours: 44, endHours: 52 }
  - campaignId: alerts
    urgency: { urgentChannels: [PUSH] }
`;

/** Runs the settings command with the test's topics; resolves with its exit code and output. */
function settingsCommand(topics: TopicsConfig, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', 'services/bootstrap/settings-main.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...topicEnv(topics), STO_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('engine: campaign settings from the settings topic', () => {
  const logger = createLogger('engine-settings-test', 'error');
  const common = stackConfig();
  const kafka = createKafka(common.kafka, logger);
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const topics = uniqueTopics('settings');
  const cleanups: (() => Promise<unknown>)[] = [];
  const scheduled: ScheduledSend[] = [];
  const ready: ReadySend[] = [];
  // Tuesday 10:00 UTC (11:00 in Paris) of the current week's clock, and 22:00 UTC (23:00 Paris, quiet).
  const day = Math.floor(Date.now() / (24 * HOUR)) * 24 * HOUR;
  const morning = day + 10 * HOUR;
  const lateEvening = day + 22 * HOUR;
  let dir: string;
  let consumer: Consumer;
  let engine: ChildService;
  let sequence = 0;

  const trigger = (campaignId: string, overrides: Partial<SendTrigger> = {}): SendTrigger => ({
    triggerId: `t-${campaignId}-${sequence++}`, recipientId: `r-${campaignId}-${sequence}`, campaignId, messageId: null, channel: 'EMAIL', triggerKind: 'CAMPAIGN',
    urgency: 'NORMAL', occurredAt: morning, timeZone: PARIS, windowHours: null, sendAt: null, quietHours: null, quietHoursPolicy: null, defaultLocalMinute: null,
    objective: null, holdoutShare: null, payload: Buffer.alloc(0), attributes: {}, ...overrides,
  });
  const send = (...triggers: SendTrigger[]) => produceRecords({ kafka, codec, topic: topics.triggers, contract: 'trigger', records: triggers, key: (t) => t.recipientId });
  const scheduledOf = (triggerId: string, count = 1) =>
    until(`${count} scheduled send(s) of trigger ${triggerId}`, 60_000, async () => {
      const found = scheduled.filter((s) => s.triggerId === triggerId);
      return found.length >= count ? found.sort((a, b) => (a.step ?? 1) - (b.step ?? 1)) : null;
    });

  beforeAll(async () => {
    const temp = await temporaryDir('settings');
    cleanups.push(temp.remove);
    dir = temp.path;
    await createTestTopics(topics, 3);
    consumer = kafka.consumer({ groupId: `${topics.scheduled}.reader` });
    await consumer.connect();
    cleanups.push(() => consumer.disconnect());
    await consumer.subscribe({ topics: [topics.scheduled, topics.ready], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        if (topic === topics.scheduled) scheduled.push(await codec.decode<ScheduledSend>('scheduled', message.value));
        else ready.push(await codec.decode<ReadySend>('ready', message.value));
      },
    });
  }, 120_000);

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('the command refuses an invalid file, naming the field, and publishes nothing', async () => {
    const file = join(dir, 'invalid.yaml');
    await writeFile(file, `${SETTINGS}  - campaignId: broken\n    quietHours: { startMinute: 1500, endMinute: 60 }\n`);
    const { code, output } = await settingsCommand(topics, ['publish', file]);
    expect(code, output).toBe(65);
    expect(output).toContain('campaigns[4].quietHours.startMinute: 1500 is not a minute of day (0..1439) (campaign "broken")');
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topics.campaignSettings).finally(() => admin.disconnect());
    expect(offsets.map((offset) => offset.high)).toEqual(['0']);
  });

  it('publishes, and an engine started afterwards applies the campaign settings with their provenance', async () => {
    const file = join(dir, 'campaigns.yaml');
    await writeFile(file, SETTINGS);
    const published = await settingsCommand(topics, ['publish', file]);
    expect(published.code, published.output).toBe(0);

    const stateDir = join(dir, 'engine');
    engine = new ChildService({ name: 'engine-settings', entry: ChildService.entry('engine'), env: { ...topicEnv(topics), ...engineEnv(topics, stateDir) }, adminPort: await freePort(), logPath: `${stateDir}.log` });
    engine.start();
    cleanups.push(() => engine.stop());
    await engine.waitReady(90_000);

    const plain = trigger('welcome');
    const overridden = trigger('welcome', { windowHours: 6, defaultLocalMinute: 14 * 60 });
    const off = trigger('newsletter');
    const cart = trigger('cart-recovery', { occurredAt: lateEvening, correlationId: 'cart-42' });
    const urgentPush = trigger('alerts', { channel: 'PUSH', urgency: 'URGENT' });
    await send(plain, overridden, off, cart, urgentPush);

    // The campaign's window (48 h), quiet hours and default time (09:30 Paris the next morning), and grace.
    const [welcome] = await scheduledOf(plain.triggerId);
    expect(welcome!.reason).toBe('FALLBACK_THIN_HISTORY');
    expect(welcome!.sendAt).toBe(morning + (23.5 - offsetHours(morning)) * HOUR);
    expect(welcome!.quietHours).toEqual({ startMinute: 1260, endMinute: 480 });
    expect(welcome!.expiresAt).toBe(morning + 48 * HOUR + HOUR);
    expect(welcome!.settingsSources).toMatchObject({ windowHours: 'CAMPAIGN', quietHours: 'CAMPAIGN', defaultLocalMinute: 'CAMPAIGN', holdoutShare: 'CAMPAIGN', objective: 'DEPLOYMENT', optimize: 'DEPLOYMENT' });

    // The trigger's own window and default time win; the campaign's quiet hours stay.
    const [own] = await scheduledOf(overridden.triggerId);
    expect(own!.sendAt).toBe(morning + (4 - offsetHours(morning)) * HOUR);
    expect(own!.settingsSources).toMatchObject({ windowHours: 'TRIGGER', defaultLocalMinute: 'TRIGGER', quietHours: 'CAMPAIGN' });

    // STO off: the default local time (10:00 Paris, tomorrow since it is 11:00), as the holdout gets.
    const [newsletter] = await scheduledOf(off.triggerId);
    expect(newsletter).toMatchObject({ reason: 'CONTROL', arm: 'CONTROL', bindingConstraint: 'DEFAULT_TIME' });
    expect(newsletter!.localSendTime).toMatch(/T10:00:00\.000\+0[12]:00$/);
    expect(newsletter!.settingsSources!.optimize).toBe('CAMPAIGN');

    // The sequence: three scheduled sends (the immediate step waits out the quiet hours), distinct ids and windows.
    const steps = await scheduledOf(cart.triggerId, 3);
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3]);
    expect(steps.map((s) => s.scheduleId)).toEqual([1, 2, 3].map((step) => scheduleIdOf(cart.triggerId, cart.recipientId, step)));
    expect(steps[0]!.reason).toBe('URGENT_BYPASS');
    for (const [s, start, end] of [[steps[1]!, 20, 28], [steps[2]!, 44, 52]] as const) {
      expect(s.sendAt).toBeGreaterThanOrEqual(lateEvening + start * HOUR);
      expect(s.sendAt).toBeLessThanOrEqual(lateEvening + end * HOUR);
    }
    for (const s of steps) {
      expect(s).toMatchObject({ correlationId: 'cart-42', caps: { perDay: 2, perWeek: null } });
      expect(s.stopOn).toEqual([
        { eventType: 'CONVERSION', sameCorrelation: true, sameCampaign: false },
        { eventType: 'UNSUBSCRIBE', sameCorrelation: false, sameCampaign: false },
      ]);
    }

    // An urgent PUSH bypasses the wait because the campaign names PUSH (by default only SMS does).
    const [alert] = await until('the urgent PUSH on the ready topic', 60_000, async () => {
      const found = ready.filter((r) => r.triggerId === urgentPush.triggerId);
      return found.length > 0 ? found : null;
    });
    expect(alert).toMatchObject({ reason: 'URGENT_BYPASS', channel: 'PUSH', sendAt: morning });
    expect(scheduled.filter((s) => s.triggerId === urgentPush.triggerId)).toEqual([]);
  }, 240_000);

  it('settings changed or deleted while the engine runs apply to the next triggers', async () => {
    const file = join(dir, 'changed.yaml');
    await writeFile(file, 'campaignId: welcome\nwindowHours: 72\ndefaultLocalMinute: 480\nholdoutShare: 0\n');
    const changed = await settingsCommand(topics, ['publish', file]);
    expect(changed.code, changed.output).toBe(0);
    // The change reaches the engine asynchronously: trigger again until a decision shows it.
    const updated = await until('a welcome trigger decided with the changed settings (08:00 local, no quiet hours)', 60_000, async () => {
      const next = trigger('welcome');
      await send(next);
      const [decided] = await scheduledOf(next.triggerId);
      return decided!.localSendTime.includes('T08:00:00') ? decided : null;
    });
    expect(updated!.quietHours).toBeNull();
    expect(updated!.settingsSources).toMatchObject({ windowHours: 'CAMPAIGN', defaultLocalMinute: 'CAMPAIGN', quietHours: 'DEPLOYMENT' });
    expect(updated!.expiresAt).toBe(morning + 72 * HOUR + 720 * 60_000);

    // A record another producer wrote with a value out of range is skipped and counted; the
    // campaign keeps its last valid settings.
    const writer = await codec.writer('campaignSettings', `${topics.campaignSettings}-value`);
    const bad = { campaignId: 'welcome', windowHours: 500, quietHours: null, quietHoursPolicy: null, defaultLocalMinute: null, objective: null, holdoutShare: null, optimize: null, urgency: null, expiryGraceMinutes: null, caps: null, stopOn: null, steps: [], updatedAt: null };
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: topics.campaignSettings, messages: [{ key: 'welcome', value: codec.encode(writer, bad) }] }).finally(() => producer.disconnect());
    await until('sto_engine_campaign_settings_invalid_total 1 on the engine', 60_000, async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${engine.adminPort}/metrics`)).text();
      return /^sto_engine_campaign_settings_invalid_total\{[^}]*\} 1$/m.test(metrics);
    });
    const kept = trigger('welcome');
    await send(kept);
    const [keptDecision] = await scheduledOf(kept.triggerId);
    expect(keptDecision!.localSendTime).toContain('T08:00:00');
    expect(keptDecision!.expiresAt).toBe(morning + 72 * HOUR + 720 * 60_000);

    const deleted = await settingsCommand(topics, ['publish', '--delete', 'welcome']);
    expect(deleted.code, deleted.output).toBe(0);
    const plain = await until('a welcome trigger decided with the deployment settings after the delete', 60_000, async () => {
      const next = trigger('welcome');
      await send(next);
      const [decided] = await scheduledOf(next.triggerId);
      return decided!.settingsSources!.windowHours === 'DEPLOYMENT' ? decided : null;
    });
    expect(plain!.settingsSources).toMatchObject({ defaultLocalMinute: 'DEPLOYMENT', holdoutShare: 'DEPLOYMENT' });
  }, 240_000);
});

/** Paris's UTC offset in hours at an instant (1 in winter, 2 in summer). */
function offsetHours(atMs: number): number {
  const local = new Date(atMs).toLocaleString('en-GB', { timeZone: PARIS, hour: '2-digit', hourCycle: 'h23' });
  return (Number(local) - new Date(atMs).getUTCHours() + 24) % 24;
}
