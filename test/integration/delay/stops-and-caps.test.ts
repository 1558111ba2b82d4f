import type { Message, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import type { EngagementEvent, ReadySend, ScheduledSend, StopRule, UnreleasedSend } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec, type Writer } from '../../../services/shared/contracts/schema-codec.ts';
import { valueSubject } from '../../../services/shared/contracts/schema-files.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { publishCampaignStop } from '../../../services/stop-campaign/stop-campaign.ts';
import { plainScheduledSend, sampleEngagement } from '../../support/sample-records.ts';
import { freePort } from '../support/free-port.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const HOUR = 3_600_000;
const PARTITIONS = 3;
/**
 * The stop grace of the delay service under test: a stop produced just before the instant whose
 * produce request is still in flight at the instant is covered if it lands within it. Larger than
 * the 100 ms default because produce requests on the busy test machine take longer.
 */
const GRACE_MS = 500;

const rule = (eventType: StopRule['eventType'], flags: Partial<StopRule> = {}): StopRule => ({ eventType, sameCorrelation: false, sameCampaign: false, ...flags });

/**
 * The delay service on the real broker, fed ScheduledSend v2 records with stop rules and caps
 * directly (the engine fills them from the campaign settings), engagement events and campaign
 * stops: what it releases and what it records as unreleased.
 */
describe('stops, suppression and caps on the real broker', () => {
  const topics = uniqueTopics('stops');
  const common = { ...stackConfig(), topics };
  const kafka = createKafka(common.kafka, createLogger('stops-test', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  let stateDir: { path: string; remove: () => Promise<void> };
  let delay: ChildService;
  let producer: Producer;
  let scheduledWriter: Writer;
  let engagementWriter: Writer;
  const ready = new Map<string, ReadySend[]>();
  const unreleased = new Map<string, UnreleasedSend[]>();
  const consumer = kafka.consumer({ groupId: `${topics.ready}.reader` });

  const send = (id: string, sendAt: number, extra: Partial<ScheduledSend> = {}): ScheduledSend => ({
    ...plainScheduledSend({ scheduleId: id, triggerId: `t-${id}`, recipientId: `r-${id}`, campaignId: 'cart' }, sendAt, id),
    triggeredAt: Date.now() - 60_000,
    correlationId: `cart-${id}`,
    ...extra,
  });
  const engagement = (recipientId: string, eventType: EngagementEvent['eventType'], extra: Partial<EngagementEvent> = {}): EngagementEvent => ({
    ...sampleEngagement(1, recipientId),
    eventId: `e-${recipientId}-${eventType}-${Math.random()}`,
    channel: 'EMAIL',
    eventType,
    occurredAt: Date.now(),
    campaignId: 'cart',
    correlationId: `cart-${recipientId.slice(2)}`,
    bounceKind: null,
    ...extra,
  });
  const scheduledMessage = (record: ScheduledSend): Message => ({ key: record.recipientId, value: codec.encode(scheduledWriter, record), headers: { 'sto-schedule-id': record.scheduleId } });
  const engagementMessage = (record: EngagementEvent): Message => ({ key: record.recipientId, value: codec.encode(engagementWriter, record) });
  const produce = (scheduled: ScheduledSend[], events: EngagementEvent[] = []) =>
    producer.sendBatch({
      topicMessages: [
        ...(scheduled.length > 0 ? [{ topic: topics.scheduled, messages: scheduled.map(scheduledMessage) }] : []),
        ...(events.length > 0 ? [{ topic: topics.engagement, messages: events.map(engagementMessage) }] : []),
      ],
    });
  const outcomeOf = (id: string) => unreleased.get(id)?.map((record) => record.outcome).join(',') ?? null;
  const seen = (ids: string[]) => () => ids.every((id) => ready.has(id) || unreleased.has(id));
  const missing = (ids: string[]) => () => `an outcome for ${ids.filter((id) => !ready.has(id) && !unreleased.has(id)).slice(0, 10).join(', ')}`;

  function delayService(env: Record<string, string> = {}): ChildService {
    return new ChildService({
      name: 'delay',
      entry: ChildService.entry('delay'),
      env: { ...topicEnv(topics), STO_STATE_DIR: stateDir.path, STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`, STO_LOG_LEVEL: 'warn', ...env },
      adminPort: adminPort,
      logPath: `${stateDir.path}.log`,
    });
  }
  let adminPort: number;

  beforeAll(async () => {
    await createTestTopics(topics, PARTITIONS);
    stateDir = await temporaryDir('stops');
    adminPort = await freePort();
    // A rate limit on SMS only: the campaign-stop race releases its SMS sends over seconds, in many passes.
    delay = delayService({ STO_DELAY_RATE_SMS: '400', STO_DELAY_RATE_BURST: '20', STO_DELAY_STOP_GRACE_MS: String(GRACE_MS) });
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    scheduledWriter = await codec.writer('scheduled', valueSubject(topics.scheduled));
    engagementWriter = await codec.writer('engagement', valueSubject(topics.engagement));
    await consumer.connect();
    await consumer.subscribe({ topics: [topics.ready, topics.unreleased], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        if (topic === topics.ready) {
          const value = await codec.decode<ReadySend>('ready', message.value);
          ready.set(value.scheduleId, [...(ready.get(value.scheduleId) ?? []), value]);
        } else {
          const value = await codec.decode<UnreleasedSend>('unreleased', message.value);
          unreleased.set(value.scheduleId, [...(unreleased.get(value.scheduleId) ?? []), value]);
        }
      },
    });
    delay.start();
    await delay.waitReady(90_000);
  });

  afterAll(async () => {
    await consumer.disconnect();
    await producer?.disconnect();
    await delay?.stop();
    await stateDir?.remove();
  });

  it('a stop that arrives after the delay service has the send, before its instant: not released, one STOPPED record', async () => {
    const dueAt = Date.now() + 6_000;
    const stopOn = [rule('CONVERSION', { sameCorrelation: true })];
    const ids = Array.from({ length: 20 }, (_, i) => `held-${i}`);
    const pendingBefore = await delay.metric('sto_delay_pending');
    await produce(ids.map((id) => send(id, dueAt, { stopOn })));
    await waitFor(async () => (await delay.metric('sto_delay_pending')) >= pendingBefore + ids.length, 30_000, 'the delay service to hold the 20 sends');
    // Half the recipients convert this cart; one converts another cart (no stop).
    await produce([], [...ids.slice(0, 10).map((id) => engagement(`r-${id}`, 'CONVERSION')), engagement(`r-${ids[10]}`, 'CONVERSION', { correlationId: 'another-cart' })]);
    await waitFor(seen(ids), 60_000, missing(ids));
    for (const id of ids.slice(0, 10)) expect(ready.has(id), `${id} released after its stop`).toBe(false);
    for (const id of ids.slice(0, 10)) expect(outcomeOf(id)).toBe('STOPPED');
    for (const id of ids.slice(10)) expect(ready.get(id)?.length, `${id} released once`).toBe(1);
    expect(unreleased.get(ids[0]!)![0]!.detail).toMatch(/stopped by CONVERSION \(correlation cart-held-0\)/);
  });

  it('a stop produced 1 ms before the instant holds the send', async () => {
    const dueAt = Date.now() + 5_000;
    const ids = Array.from({ length: 20 }, (_, i) => `edge-${i}`);
    await produce(ids.map((id) => send(id, dueAt, { stopOn: [rule('CLICK')] })));
    // The scenario's timing, not a synchronization: the stops are appended as close to the instant as a client can.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, dueAt - 1 - Date.now())));
    await produce([], ids.map((id) => engagement(`r-${id}`, 'CLICK', { occurredAt: dueAt - 1 })));
    const ackedAt = Date.now();
    expect(ackedAt, 'the stops were not even acknowledged within the grace: the scenario did not happen').toBeLessThan(dueAt + GRACE_MS);
    await waitFor(seen(ids), 60_000, missing(ids));
    const released = ids.filter((id) => ready.has(id));
    expect(released, 'released although a stop was appended before the instant').toEqual([]);
    expect(ids.map(outcomeOf)).toEqual(ids.map(() => 'STOPPED'));
  });

  it('a stop and the release in the same batch: the stop wins, every time', async () => {
    // Due already when they arrive: released by the first pass after they are stored, unless the
    // pass waits for the engagement records appended with them.
    const ids = Array.from({ length: 60 }, (_, i) => `same-${i}`);
    await produce(
      ids.map((id) => send(id, Date.now() - 1_000, { stopOn: [rule('UNSUBSCRIBE')] })),
      ids.map((id) => engagement(`r-${id}`, 'UNSUBSCRIBE')),
    );
    await waitFor(seen(ids), 60_000, missing(ids));
    expect(ids.filter((id) => ready.has(id)), 'released in the same batch as its stop').toEqual([]);
    expect(new Set(ids.map(outcomeOf))).toEqual(new Set(['STOPPED']));
    expect(await delay.metric('sto_delay_stop_watermark_timeouts_total')).toBe(0);
  });

  it('suppression: unsubscribe, complaint and hard bounce suppress the channel (SUPPRESSED), a re-subscribe lifts it, a soft bounce does not', async () => {
    const events = [
      engagement('r-sup-unsub', 'UNSUBSCRIBE', { campaignId: 'newsletter' }),
      engagement('r-sup-complaint', 'COMPLAINT', { campaignId: null, correlationId: null }),
      engagement('r-sup-hard', 'BOUNCE', { bounceKind: 'HARD' }),
      engagement('r-sup-soft', 'BOUNCE', { bounceKind: 'SOFT' }),
      engagement('r-sup-back', 'UNSUBSCRIBE'),
    ];
    await produce([], events);
    await produce([], [engagement('r-sup-back', 'RESUBSCRIBE', { occurredAt: Date.now() + 1 })]);
    const now = Date.now();
    const sends = [
      send('sup-unsub', now),
      send('sup-unsub-sms', now, { recipientId: 'r-sup-unsub', channel: 'SMS' }),
      send('sup-complaint', now),
      send('sup-hard', now),
      send('sup-soft', now),
      send('sup-back', now),
    ];
    await produce(sends);
    const ids = sends.map((record) => record.scheduleId);
    await waitFor(seen(ids), 60_000, missing(ids));
    expect(Object.fromEntries(ids.map((id) => [id, ready.has(id) ? 'RELEASED' : outcomeOf(id)]))).toEqual({
      'sup-unsub': 'SUPPRESSED',
      'sup-unsub-sms': 'RELEASED',
      'sup-complaint': 'SUPPRESSED',
      'sup-hard': 'SUPPRESSED',
      'sup-soft': 'RELEASED',
      'sup-back': 'RELEASED',
    });
    // Counted once the pass's state is committed, just after its records are out.
    await waitFor(async () => (await delay.metric('sto_delay_unreleased_total', { outcome: 'SUPPRESSED', channel: 'EMAIL' })) === 3, 10_000, 'sto_delay_unreleased_total{outcome="SUPPRESSED",channel="EMAIL"} = 3');
  });

  it('a campaign stop read while a release pass runs: no pass of the campaign both releases and stops, and every send has one outcome', async () => {
    // 1,500 SMS sends due at one instant, rate-limited to 400/s: released over about 4 s, in many passes.
    const dueAt = Date.now() + 4_000;
    const ids = Array.from({ length: 1_500 }, (_, i) => `bulk-${i}`);
    await produce(ids.map((id) => send(id, dueAt, { campaignId: 'bulk', channel: 'SMS' })));
    await waitFor(() => ids.some((id) => ready.has(id)), 60_000, 'the first release of the bulk campaign');
    await publishCampaignStop({ kafka, codec, topic: topics.campaignStops, command: { campaignId: 'bulk', resume: false, stoppedBy: 'integration-test', reason: 'race' }, now: Date.now() });
    await waitFor(seen(ids), 90_000, missing(ids));
    const released = ids.filter((id) => ready.has(id));
    const stopped = ids.filter((id) => outcomeOf(id) === 'STOPPED');
    expect(released.length, 'the stop came after the release began').toBeGreaterThan(0);
    expect(stopped.length, 'the stop came before the release ended').toBeGreaterThan(0);
    expect(released.length + stopped.length).toBe(ids.length);
    for (const id of ids) expect((ready.get(id)?.length ?? 0) + (unreleased.get(id)?.length ?? 0), `${id} has one outcome`).toBe(1);
    // A pass checks at one instant (releasedAt = decidedAt = the pass's clock): a stop applied
    // in the middle of a pass would show as one instant with both a release and a stop.
    const releaseInstants = new Set(released.map((id) => ready.get(id)![0]!.releasedAt));
    const stopInstants = stopped.map((id) => unreleased.get(id)![0]!.decidedAt);
    expect(stopInstants.filter((at) => releaseInstants.has(at)), 'a pass both released and stopped sends of the stopped campaign').toEqual([]);
    expect(Math.max(...releaseInstants)).toBeLessThan(Math.min(...stopInstants));
    expect(unreleased.get(stopped[0]!)![0]!.detail).toMatch(/campaign bulk stopped by integration-test \(race\)/);
  });

  it('a cancelled send and an erased recipient\'s sends leave CANCELLED and ERASED records', async () => {
    const later = Date.now() + HOUR;
    const pendingBefore = await delay.metric('sto_delay_pending');
    await produce([send('to-cancel', later), send('erased-1', later, { recipientId: 'r-erased' }), send('erased-2', later + 1, { recipientId: 'r-erased' })]);
    // The erasure topic is consumed apart from the scheduled one: it must find the sends stored.
    await waitFor(async () => (await delay.metric('sto_delay_pending')) >= pendingBefore + 3, 30_000, 'the delay service to hold the 3 sends');
    await produce([{ ...send('to-cancel', later), action: 'CANCEL' }]);
    const erasureWriter = await codec.writer('erasure', valueSubject(topics.erasure));
    await producer.send({ topic: topics.erasure, messages: [{ key: 'r-erased', value: codec.encode(erasureWriter, { requestId: 'erase-1', recipientId: 'r-erased', requestedAt: Date.now() }) }] });
    await waitFor(seen(['to-cancel', 'erased-1', 'erased-2']), 60_000, missing(['to-cancel', 'erased-1', 'erased-2']));
    expect([outcomeOf('to-cancel'), outcomeOf('erased-1'), outcomeOf('erased-2')]).toEqual(['CANCELLED', 'ERASED', 'ERASED']);
    expect(unreleased.get('erased-1')![0]!.detail).toMatch(/erase-1/);
  });

  it('caps hold across a restart of the delay service: the release history is state', async () => {
    const caps = { perDay: 1, perWeek: null };
    const now = Date.now();
    await produce([send('cap-1', now, { recipientId: 'r-capped', caps })]);
    await waitFor(() => ready.has('cap-1'), 60_000, 'the first capped send');
    await delay.stop();
    delay = delayService({ STO_DELAY_STOP_GRACE_MS: String(GRACE_MS) });
    delay.start();
    await delay.waitReady(90_000);
    const later = Date.now();
    await produce([
      send('cap-2', later, { recipientId: 'r-capped', caps, expiresAt: later + HOUR }),
      send('cap-3', later, { recipientId: 'r-capped', caps, expiresAt: later + 2 * 24 * HOUR }),
      send('cap-other-channel', later, { recipientId: 'r-capped', caps, channel: 'PUSH' }),
    ]);
    await waitFor(() => unreleased.has('cap-2') && ready.has('cap-other-channel'), 60_000, 'the capped send and the release on another channel');
    expect(outcomeOf('cap-2')).toBe('CAPPED');
    expect(unreleased.get('cap-2')![0]!.detail).toMatch(/perDay 1/);
    await waitFor(async () => (await delay.metric('sto_delay_cap_moves_total', { channel: 'EMAIL' })) === 1, 30_000, 'the move of cap-3 to the next day');
    expect(ready.has('cap-3'), 'a send released past its cap').toBe(false);
    expect(unreleased.has('cap-3')).toBe(false);
    expect(await delay.metric('sto_delay_pending')).toBeGreaterThanOrEqual(1);
  });
});
