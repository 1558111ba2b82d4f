import { describe, expect, it } from 'vitest';
import { RecipientQuery } from '../../../services/engine/recipient-query.ts';
import { validateCampaignSettings } from '../../../services/model/campaign-settings.ts';
import { scheduleIdOf } from '../../../services/model/hash.ts';
import { resolveSettings, type DeploymentSettings } from '../../../services/model/resolve-settings.ts';
import type { CampaignSettings, ReadySend, ScheduledSend, SendTrigger } from '../../../services/shared/contracts/record-types.ts';
import { EngineHarness } from '../../support/engine-harness.ts';

// Tuesday 1 December 2026, 10:00 UTC = 11:00 in Paris.
const AT = Date.UTC(2026, 11, 1, 10);
const HOUR = 3_600_000;
const PARIS = 'Europe/Paris';

const trigger = (overrides: Partial<SendTrigger> = {}): SendTrigger => ({
  triggerId: 't-1',
  recipientId: 'alice',
  campaignId: 'cart',
  messageId: null,
  channel: 'EMAIL',
  triggerKind: 'CART_RECOVERY',
  urgency: 'NORMAL',
  occurredAt: AT,
  timeZone: PARIS,
  windowHours: null,
  sendAt: null,
  quietHours: null,
  quietHoursPolicy: null,
  defaultLocalMinute: null,
  objective: null,
  holdoutShare: null,
  payload: Buffer.alloc(0),
  attributes: {},
  ...overrides,
});

const campaign = (overrides: Partial<CampaignSettings> = {}): CampaignSettings => ({
  campaignId: 'cart',
  windowHours: null,
  quietHours: null,
  quietHoursPolicy: null,
  defaultLocalMinute: null,
  objective: null,
  holdoutShare: null,
  optimize: null,
  urgency: null,
  expiryGraceMinutes: null,
  caps: null,
  stopOn: null,
  steps: [],
  updatedAt: null,
  ...overrides,
});

/** No exploration or holdout draws: each test sees the path it sets up. */
async function harness(): Promise<EngineHarness> {
  return EngineHarness.create({ STO_EXPLORATION_SHARE: '0', STO_HOLDOUT_SHARE: '0' });
}

async function sends(engine: EngineHarness, ...triggers: SendTrigger[]): Promise<{ scheduled: ScheduledSend[]; ready: ReadySend[] }> {
  const { topics } = engine.config.common;
  const batch = await engine.handle(
    topics.triggers,
    triggers.map((t) => ({ key: t.recipientId, value: engine.encode('trigger', t), timestamp: t.occurredAt })),
  );
  expect(batch.deadLettered).toEqual([]);
  const scheduled: ScheduledSend[] = [];
  const ready: ReadySend[] = [];
  for (const { topic, message } of batch.outputs) {
    if (topic === topics.scheduled) scheduled.push(await engine.codec.decode<ScheduledSend>('scheduled', message.value as Buffer));
    if (topic === topics.ready) ready.push(await engine.codec.decode<ReadySend>('ready', message.value as Buffer));
  }
  return { scheduled, ready };
}

/** Ten days of opens at 20:00 Paris: enough history for an OPTIMIZED decision at that hour. */
async function withEveningHistory(engine: EngineHarness, recipientId = 'alice'): Promise<void> {
  const events = Array.from({ length: 10 }, (_, day) => {
    const occurredAt = AT - (10 - day) * 24 * HOUR + 9 * HOUR; // 19:00 UTC = 20:00 Paris, oldest first
    return {
      key: recipientId,
      timestamp: AT,
      value: engine.encode('engagement', {
        eventId: `open-${recipientId}-${day}`, recipientId, channel: 'EMAIL', eventType: 'OPEN', occurredAt, timeZone: PARIS,
        campaignId: null, messageId: null, machineOpen: false, userAgent: null, deliveredAt: null, attributes: {},
      }),
    };
  });
  await engine.handle(engine.config.common.topics.engagement, events);
}

describe('campaign settings in the decision', () => {
  it("a trigger that states nothing gets the campaign's window, quiet hours, default time and grace, and says so", async () => {
    const engine = await harness();
    engine.campaigns.set('cart', campaign({ windowHours: 48, quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 }, defaultLocalMinute: 9 * 60 + 30, expiryGraceMinutes: 60 }));
    const [send] = (await sends(engine, trigger())).scheduled;
    // Thin history: the default time, 09:30 Paris the next morning (the window is 48 h, not 24).
    expect(send!.reason).toBe('FALLBACK_THIN_HISTORY');
    expect(send!.sendAt).toBe(Date.UTC(2026, 11, 2, 8, 30));
    expect(send!.bindingConstraint).toBe('DEFAULT_TIME');
    expect(send!.quietHours).toEqual({ startMinute: 21 * 60, endMinute: 8 * 60 });
    expect(send!.expiresAt).toBe(AT + 48 * HOUR + 60 * 60_000);
    expect(send!.settingsSources).toMatchObject({
      windowHours: 'CAMPAIGN',
      quietHours: 'CAMPAIGN',
      defaultLocalMinute: 'CAMPAIGN',
      expiryGraceMinutes: 'CAMPAIGN',
      objective: 'DEPLOYMENT',
      holdoutShare: 'DEPLOYMENT',
      optimize: 'DEPLOYMENT',
      steps: 'DEPLOYMENT',
    });
    // Without the campaign's settings: the deployment's, 24 h from the window start, no default time.
    engine.campaigns.clear();
    const [plain] = (await sends(engine, trigger({ triggerId: 't-2' }))).scheduled;
    expect(plain!.sendAt).toBe(AT);
    expect(plain!.settingsSources).toMatchObject({ windowHours: 'DEPLOYMENT', defaultLocalMinute: 'DEPLOYMENT' });
    expect(plain!.expiresAt).toBe(AT + 24 * HOUR + engine.config.expiryGraceMs);
  });

  it("a trigger's own field overrides the campaign's, the rest stays the campaign's", async () => {
    const engine = await harness();
    engine.campaigns.set('cart', campaign({ windowHours: 48, defaultLocalMinute: 9 * 60 + 30, quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 } }));
    const [send] = (await sends(engine, trigger({ windowHours: 12, defaultLocalMinute: 14 * 60 }))).scheduled;
    expect(send!.sendAt).toBe(Date.UTC(2026, 11, 1, 13)); // 14:00 Paris the same day
    expect(send!.expiresAt).toBe(AT + 12 * HOUR + engine.config.expiryGraceMs);
    expect(send!.settingsSources).toMatchObject({ windowHours: 'TRIGGER', defaultLocalMinute: 'TRIGGER', quietHours: 'CAMPAIGN' });
  });

  it('STO off sends at the default local time in the recipient zone even with a history that would optimize', async () => {
    const engine = await harness();
    await withEveningHistory(engine);
    const [optimized] = (await sends(engine, trigger({ triggerId: 't-opt' }))).scheduled;
    expect(optimized!.reason).toBe('OPTIMIZED');
    // The hour before the evening habit (a slot scores the engagement shortly after it).
    expect(optimized!.sendAt).toBe(Date.UTC(2026, 11, 1, 18));
    engine.campaigns.set('cart', campaign({ optimize: false, defaultLocalMinute: 9 * 60 + 30 }));
    const [off] = (await sends(engine, trigger({ triggerId: 't-off' }))).scheduled;
    expect(off!.sendAt).toBe(Date.UTC(2026, 11, 2, 8, 30));
    expect(off!.localSendTime).toBe('2026-12-02T09:30:00.000+01:00');
    expect(off).toMatchObject({ reason: 'CONTROL', arm: 'CONTROL', bindingConstraint: 'DEFAULT_TIME', propensity: 1 });
    expect(off!.settingsSources!.optimize).toBe('CAMPAIGN');
  });

  it("copies the campaign's stop rules and caps and the trigger's correlationId into the scheduled send", async () => {
    const engine = await harness();
    const stopOn = [{ eventType: 'CONVERSION' as const, sameCorrelation: true, sameCampaign: false }, { eventType: 'UNSUBSCRIBE' as const, sameCorrelation: false, sameCampaign: false }];
    engine.campaigns.set('cart', campaign({ stopOn, caps: { perDay: 2, perWeek: 5 } }));
    const [send] = (await sends(engine, trigger({ correlationId: 'cart-77' }))).scheduled;
    expect(send).toMatchObject({ stopOn, caps: { perDay: 2, perWeek: 5 }, correlationId: 'cart-77', step: 1 });
    expect(send!.settingsSources).toMatchObject({ stopOn: 'CAMPAIGN', caps: 'CAMPAIGN' });
    engine.campaigns.clear();
    const [plain] = (await sends(engine, trigger({ triggerId: 't-2' }))).scheduled;
    expect(plain).toMatchObject({ stopOn: [], caps: null, correlationId: null });
  });
});

describe('sequences', () => {
  const cartRecovery = campaign({
    quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 },
    steps: [
      { startHours: 0, endHours: 1, immediate: true },
      { startHours: 20, endHours: 28, immediate: false },
      { startHours: 44, endHours: 52, immediate: false },
    ],
  });

  it('schedules every step at once, each with its own id, window, decision and step number', async () => {
    const engine = await harness();
    await withEveningHistory(engine);
    engine.campaigns.set('cart', cartRecovery);
    // 23:00 Paris: quiet, so the immediate step waits for 08:00 and is scheduled too.
    const late = AT + 12 * HOUR;
    const { scheduled, ready } = await sends(engine, trigger({ occurredAt: late }));
    expect(ready).toEqual([]);
    expect(scheduled.map((send) => send.step)).toEqual([1, 2, 3]);
    expect(scheduled.map((send) => send.scheduleId)).toEqual([1, 2, 3].map((step) => scheduleIdOf('t-1', 'alice', step)));
    expect(new Set(scheduled.map((send) => send.scheduleId)).size).toBe(3);
    const [first, second, third] = scheduled;
    // Its window (the first hour) is all quiet: 08:00 Paris, flagged as forced past the window.
    expect(first).toMatchObject({ reason: 'URGENT_BYPASS', bindingConstraint: 'QUIET_HOURS_FORCED', sendAt: Date.UTC(2026, 11, 2, 7) });
    for (const [send, start, end] of [[second!, 20, 28], [third!, 44, 52]] as const) {
      expect(send.sendAt).toBeGreaterThanOrEqual(late + start * HOUR);
      expect(send.sendAt).toBeLessThanOrEqual(late + end * HOUR);
      expect(send.expiresAt).toBe(Math.max(late + end * HOUR, send.sendAt) + engine.config.expiryGraceMs);
      expect(send.reason).toBe('OPTIMIZED');
      expect(send.settingsSources).toMatchObject({ windowHours: 'CAMPAIGN', steps: 'CAMPAIGN' });
    }
    // Each window (18:00 to 02:00 UTC) holds the evening slot, 19:00 Paris, the hour before the habit.
    expect(second!.sendAt).toBe(Date.UTC(2026, 11, 2, 18));
    expect(third!.sendAt).toBe(Date.UTC(2026, 11, 3, 18));
  });

  it('an immediate first step inside the allowed hours goes straight to the ready topic; the others are scheduled', async () => {
    const engine = await harness();
    engine.campaigns.set('cart', cartRecovery);
    const { scheduled, ready } = await sends(engine, trigger());
    expect(ready.map((send) => [send.scheduleId, send.reason, send.sendAt])).toEqual([[scheduleIdOf('t-1', 'alice', 1), 'URGENT_BYPASS', AT]]);
    expect(scheduled.map((send) => send.step)).toEqual([2, 3]);
  });

  it("a trigger's explicit sendAt is the first step's instant; the later steps keep their windows", async () => {
    const engine = await harness();
    engine.campaigns.set('cart', cartRecovery);
    const sendAt = AT + 2 * HOUR;
    const { scheduled } = await sends(engine, trigger({ sendAt }));
    expect(scheduled.map((send) => [send.step, send.reason])).toEqual([[1, 'EXPLICIT_SEND_AT'], [2, 'FALLBACK_THIN_HISTORY'], [3, 'FALLBACK_THIN_HISTORY']]);
    expect(scheduled[0]!.sendAt).toBe(sendAt);
    // Their windows open at 07:00 Paris, still quiet: 08:00 Paris.
    expect(scheduled[1]!.sendAt).toBe(AT + 21 * HOUR);
    expect(scheduled[2]!.sendAt).toBe(AT + 45 * HOUR);
  });

  it('a campaign without steps keeps the schedule id a single send always had (step 1)', async () => {
    const engine = await harness();
    engine.campaigns.set('cart', campaign({ windowHours: 48 }));
    const [send] = (await sends(engine, trigger())).scheduled;
    expect(send!.scheduleId).toBe(scheduleIdOf('t-1', 'alice'));
    expect(send!.step).toBe(1);
  });
});

describe('urgency policy', () => {
  it('an URGENT PUSH waits by default (SMS only) and bypasses when the settings name PUSH', async () => {
    const engine = await harness();
    const urgentPush = (triggerId: string) => trigger({ triggerId, channel: 'PUSH', urgency: 'URGENT', windowHours: 24 });
    const before = await sends(engine, urgentPush('t-a'));
    expect(before.ready).toEqual([]);
    expect(before.scheduled[0]!.reason).not.toBe('URGENT_BYPASS');
    engine.campaigns.set('cart', campaign({ urgency: { urgentChannels: ['PUSH'], transactionalChannels: null, quietHoursApply: null } }));
    const after = await sends(engine, urgentPush('t-b'));
    expect(after.scheduled).toEqual([]);
    expect(after.ready.map((send) => [send.reason, send.channel, send.sendAt])).toEqual([['URGENT_BYPASS', 'PUSH', AT]]);
    // The urgent SMS of the deployment's default no longer bypasses under a policy naming PUSH only.
    const sms = await sends(engine, trigger({ triggerId: 't-c', channel: 'SMS', urgency: 'URGENT' }));
    expect(sms.ready).toEqual([]);
  });

  it('a TRANSACTIONAL EMAIL bypasses on the channels the settings name', async () => {
    const engine = await harness();
    const receipt = (triggerId: string) => trigger({ triggerId, triggerKind: 'TRANSACTIONAL' });
    expect((await sends(engine, receipt('t-a'))).ready).toEqual([]);
    engine.campaigns.set('cart', campaign({ urgency: { urgentChannels: null, transactionalChannels: ['EMAIL'], quietHoursApply: null } }));
    expect((await sends(engine, receipt('t-b'))).ready.map((send) => send.reason)).toEqual(['URGENT_BYPASS']);
  });

  it('quiet hours hold a bypass unless the settings say they do not apply', async () => {
    const engine = await harness();
    const quiet = { startMinute: 21 * 60, endMinute: 8 * 60 };
    const at23Paris = AT + 12 * HOUR;
    const urgent = (triggerId: string) => trigger({ triggerId, channel: 'PUSH', urgency: 'URGENT', occurredAt: at23Paris });
    engine.campaigns.set('cart', campaign({ quietHours: quiet, urgency: { urgentChannels: ['PUSH'], transactionalChannels: null, quietHoursApply: null } }));
    const held = await sends(engine, urgent('t-a'));
    expect(held.ready).toEqual([]);
    expect(held.scheduled[0]).toMatchObject({ reason: 'URGENT_BYPASS', bindingConstraint: 'QUIET_HOURS', sendAt: Date.UTC(2026, 11, 2, 7), quietHours: quiet });
    engine.campaigns.set('cart', campaign({ quietHours: quiet, urgency: { urgentChannels: ['PUSH'], transactionalChannels: null, quietHoursApply: false } }));
    const now = await sends(engine, urgent('t-b'));
    expect(now.ready.map((send) => [send.reason, send.sendAt])).toEqual([['URGENT_BYPASS', at23Paris]]);
  });
});

describe('settings resolution and validation (pure)', () => {
  const deployment: DeploymentSettings = {
    windowHours: 24, quietHours: null, quietHoursPolicy: 'BEST_ALLOWED', defaultLocalMinute: null, objective: 'OPEN', holdoutShare: 0.05, optimize: true,
    urgentChannels: ['SMS'], transactionalChannels: [], quietHoursApply: true, expiryGraceMinutes: 720, caps: null, stopOn: [], steps: [],
  };
  const stated = { windowHours: null, quietHours: null, quietHoursPolicy: null, defaultLocalMinute: null, objective: null, holdoutShare: null };

  it('takes each setting from the trigger, else the campaign, else the deployment, and names the source', () => {
    const resolved = resolveSettings({ ...stated, objective: 'CLICK' }, campaign({ objective: 'CONVERSION', holdoutShare: 0.2, urgency: { urgentChannels: ['PUSH'], transactionalChannels: null, quietHoursApply: false } }), deployment);
    expect(resolved).toMatchObject({ objective: 'CLICK', holdoutShare: 0.2, windowHours: 24, urgentChannels: ['PUSH'], transactionalChannels: [], quietHoursApply: false });
    expect(resolved.sources).toMatchObject({
      objective: 'TRIGGER',
      holdoutShare: 'CAMPAIGN',
      windowHours: 'DEPLOYMENT',
      'urgency.urgentChannels': 'CAMPAIGN',
      'urgency.transactionalChannels': 'DEPLOYMENT',
      'urgency.quietHoursApply': 'CAMPAIGN',
    });
  });

  it("a newer writer's symbol in the settings reads as not set (enum) or is left out (lists)", () => {
    const resolved = resolveSettings(stated, campaign({ objective: 'UNKNOWN', quietHoursPolicy: 'UNKNOWN', stopOn: [{ eventType: 'UNKNOWN', sameCorrelation: false, sameCampaign: false }], urgency: { urgentChannels: ['UNKNOWN', 'PUSH'], transactionalChannels: null, quietHoursApply: null } }), deployment);
    expect(resolved).toMatchObject({ objective: 'OPEN', quietHoursPolicy: 'BEST_ALLOWED', stopOn: [], urgentChannels: ['PUSH'] });
    expect(resolved.sources).toMatchObject({ objective: 'DEPLOYMENT', quietHoursPolicy: 'DEPLOYMENT', stopOn: 'CAMPAIGN' });
  });

  it('names the field path of each problem, and accepts the full example', () => {
    const result = validateCampaignSettings({ campaignId: 'c', windowHours: 0, quietHours: { startMinute: 1500, endMinute: 60 }, caps: { perDay: 0 }, urgency: { urgentChannels: ['FAX'] }, optimize: 'yes' }, 'campaigns[2]');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([
      'campaigns[2].windowHours: 0 is not an integer of hours in 1..168',
      'campaigns[2].quietHours.startMinute: 1500 is not a minute of day (0..1439)',
      'campaigns[2].optimize: "yes" is not true or false',
      'campaigns[2].urgency.urgentChannels[0]: "FAX" is not one of EMAIL, PUSH, SMS, IN_APP',
      'campaigns[2].caps.perDay: 0 is not an integer of sends in 1..1000',
    ]);
    const full = { ...campaign({ windowHours: 48, quietHours: { startMinute: 1260, endMinute: 480 }, optimize: false, caps: { perDay: 1, perWeek: 3 } }), updatedAt: null };
    expect(validateCampaignSettings(full, '')).toEqual({ ok: true, settings: full });
  });
});

describe('the query preview with campaign settings', () => {
  it('equals the real decisions, step by step, with the same provenance', async () => {
    const engine = await harness();
    await withEveningHistory(engine);
    const settings = campaign({
      quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 },
      defaultLocalMinute: 600,
      steps: [
        { startHours: 0, endHours: 1, immediate: true },
        { startHours: 20, endHours: 28, immediate: false },
      ],
    });
    engine.campaigns.set('cart', settings);
    const query = new RecipientQuery(engine.config, (key) => engine.priors.get(key), (id) => engine.campaigns.get(id) ?? null);
    const late = trigger({ occurredAt: AT + 12 * HOUR });
    const preview = await query.preview(engine.store, late);
    const { scheduled } = await sends(engine, late);
    expect(preview.steps.map((step) => [step.scheduleId, step.sendAtMs, step.reason, step.settingsSources])).toEqual(
      scheduled.map((send) => [send.scheduleId, send.sendAt, send.reason, send.settingsSources]),
    );
    expect(preview.settingsSources).toEqual(scheduled[0]!.settingsSources);
    expect(preview.explanation.at(-1)).toMatch(/from the campaign: .*quietHours/);
  });
});
