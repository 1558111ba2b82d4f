import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { RecipientQuery } from '../../../services/engine/recipient-query.ts';
import { ChildService } from '../../../services/demo/child-service.ts';
import { stableUnitInterval } from '../../../services/model/hash.ts';
import type { EngagementEvent, ScheduledSend, SendTrigger } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { partitionOfKey } from '../../../services/shared/kafka/key-partition.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { EngineOracle, engineEnv, produceRecords, readTopic } from '../support/engine-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const PARTITIONS = 6;
const RECIPIENTS_PER_PARTITION = 3;
const ZONES = ['America/New_York', 'Europe/Berlin', 'Asia/Kathmandu', 'UTC'];
const TYPES: EngagementEvent['eventType'][] = ['SEND', 'OPEN', 'OPEN', 'CLICK', 'SESSION', 'OPEN'];
const TOKEN = 'query-test-token-0123456789abcdef';

/** A port nobody listens on now (the OS picks it), for a child's admin server. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Recipients until each partition has RECIPIENTS_PER_PARTITION of them. */
function recipientsOnEveryPartition(): string[] {
  const byPartition = new Map<number, string[]>();
  for (let i = 0; [...byPartition.values()].filter((ids) => ids.length >= RECIPIENTS_PER_PARTITION).length < PARTITIONS; i++) {
    const id = `person-${i}`;
    const list = byPartition.get(partitionOfKey(id, PARTITIONS)) ?? [];
    if (list.length < RECIPIENTS_PER_PARTITION) list.push(id);
    byPartition.set(partitionOfKey(id, PARTITIONS), list);
  }
  return [...byPartition.values()].flat();
}

/** A habit per recipient (a preferred local hour), so profiles differ and have shape. */
function history(recipients: string[], perRecipient: number, now: number): EngagementEvent[] {
  return recipients.flatMap((recipientId, r) =>
    Array.from({ length: perRecipient }, (_, i): EngagementEvent => {
      const type = TYPES[i % TYPES.length]!;
      const day = Math.floor(stableUnitInterval([recipientId, 'day', String(i)]) * 50) + 1;
      const hour = (r * 5 + Math.floor(stableUnitInterval([recipientId, 'hour', String(i)]) * 3)) % 24;
      return {
        eventId: `${recipientId}-${i}`,
        recipientId,
        channel: r % 4 === 3 ? 'PUSH' : 'EMAIL',
        eventType: type,
        occurredAt: now - day * 86_400_000 + hour * 3_600_000 - (now % 86_400_000),
        timeZone: ZONES[r % ZONES.length]!,
        campaignId: null,
        messageId: null,
        machineOpen: type === 'OPEN' && i % 7 === 0 ? true : null,
        userAgent: null,
        deliveredAt: null,
        attributes: {},
      };
    }),
  );
}

interface Answer {
  status: number;
  retryAfter: string | null;
  body: Record<string, unknown> | null;
}

/** The answer without who answered: what must be the same on every instance. */
function content(body: Record<string, unknown> | null): unknown {
  if (!body) return null;
  const { answeredBy: _answeredBy, forwardedBy: _forwardedBy, ...rest } = body;
  return rest;
}

describe('query API on three engine instances', () => {
  const common = stackConfig();
  const logger = createLogger('query-api-test', 'error');
  const kafka = createKafka(common.kafka, logger);
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const cleanups: (() => Promise<unknown>)[] = [];

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function ask(port: number, path: string, token: string | null = TOKEN): Promise<Answer | null> {
    try {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(15_000) });
      const text = await response.text();
      return { status: response.status, retryAfter: response.headers.get('retry-after'), body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
    } catch {
      return null;
    }
  }


  it('every instance gives the same profile for recipients on every partition, before, during and after a rebalance; previews equal real decisions', async () => {
    const topics = uniqueTopics('query');
    await createTestTopics(topics, PARTITIONS);
    const now = Date.now();
    const at = now;
    const recipients = recipientsOnEveryPartition();
    // Other recipients' history makes each partition's changelog long enough that a restore
    // takes a while: the queries during the rebalance meet partitions that are restoring.
    const filler = Array.from({ length: 6_000 }, (_, i) => `filler-${i}`);
    const input = [...history(filler, 8, now), ...history(recipients, 60, now)];

    const instances = await Promise.all(
      ['a', 'b', 'c'].map(async (name) => {
        const dir = await temporaryDir(`query-${name}`);
        cleanups.push(dir.remove);
        const env: Record<string, string> = { ...topicEnv(topics), ...engineEnv(topics, dir.path), STO_INSTANCE_ID: `engine-${name}`, STO_ADMIN_TOKEN: TOKEN, STO_EXPLORATION_SHARE: '0.2', STO_ENGINE_PRIORS_PUBLISH_SECONDS: '1' };
        const port = await freePort();
        const service = new ChildService({ name: `engine-${name}`, entry: ChildService.entry('engine'), env, adminPort: port, logPath: `${dir.path}.log` });
        cleanups.push(() => service.stop());
        return { name, env, port, service };
      }),
    );
    const config = compileEngineConfig({ ...process.env, ...instances[0]!.env });
    const oracle = new EngineOracle(config, PARTITIONS);
    for (const event of input) await oracle.applyEngagement(event, now);
    const stores = new Map((await oracle.stores()).map((store) => [store.partition, store]));
    const query = new RecipientQuery(config, await oracle.priors());
    const expected = new Map<string, unknown>();
    for (const id of recipients) {
      const profile = await query.profile(stores.get(partitionOfKey(id, PARTITIONS))!, id, at);
      expected.set(id, JSON.parse(JSON.stringify({ recipientId: id, ...profile })));
    }
    // The oracle is only trusted if it learned something for everyone.
    for (const id of recipients) expect((expected.get(id) as { found: boolean }).found, id).toBe(true);

    for (const instance of instances) instance.service.start();
    await Promise.all(instances.map((instance) => instance.service.waitReady(120_000)));
    await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: input, key: (event) => event.recipientId });

    const profilePath = (id: string) => `/recipients/${encodeURIComponent(id)}/profile?at=${at}`;
    // Every instance answers for every recipient with the oracle's profile once everything is consumed.
    const allAnswersRight = async (live: typeof instances) => {
      for (const instance of live) {
        for (const id of recipients) {
          const answer = await ask(instance.port, profilePath(id));
          if (answer?.status !== 200 || JSON.stringify(content(answer.body)) !== JSON.stringify(expected.get(id))) return false;
        }
      }
      return true;
    };
    await waitFor(() => allAnswersRight(instances), 120_000, 'every instance answering every recipient with the replayed profile');

    // Answers come from the partition's owner: forwarded ones name the instance that forwarded them.
    const answerers = new Set<string>();
    let forwarded = 0;
    for (const instance of instances) {
      for (const id of recipients) {
        const answer = (await ask(instance.port, profilePath(id)))!;
        expect(answer.status).toBe(200);
        expect(content(answer.body)).toEqual(expected.get(id));
        const by = (answer.body!.answeredBy as { instanceId: string }).instanceId;
        answerers.add(by);
        if (by !== `engine-${instance.name}`) {
          forwarded++;
          expect(answer.body!.forwardedBy).toBe(`engine-${instance.name}`);
        }
      }
    }
    expect([...answerers].sort()).toEqual(['engine-a', 'engine-b', 'engine-c']);
    expect(forwarded).toBeGreaterThan(0);

    // The API needs the token; probes and metrics stay open.
    expect((await ask(instances[0]!.port, profilePath(recipients[0]!), null))?.status).toBe(401);
    expect((await ask(instances[0]!.port, profilePath(recipients[0]!), 'wrong-token-wrong-token'))?.status).toBe(401);
    expect((await ask(instances[0]!.port, '/readyz', null))?.status).toBe(200);

    // Rebalance: c leaves while a and b are asked for everyone without pause.
    const [a, b, c] = instances as [(typeof instances)[0], (typeof instances)[0], (typeof instances)[0]];
    const seen = { right: 0, unavailable: 0 };
    const unavailableBecause = new Map<string, number>();
    const wrong: string[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        for (const instance of [a, b]) {
          for (const id of recipients) {
            const answer = await ask(instance.port, profilePath(id));
            if (answer?.status === 200 && JSON.stringify(content(answer.body)) === JSON.stringify(expected.get(id))) seen.right++;
            else if (answer?.status === 503 && answer.retryAfter !== null) {
              seen.unavailable++;
              const reason = String(answer.body?.reason).replace(/\d+/g, 'N');
              unavailableBecause.set(reason, (unavailableBecause.get(reason) ?? 0) + 1);
            }
            else wrong.push(`${instance.name}: ${answer ? `${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}` : 'no answer'}`);
          }
        }
      }
    })();
    const rightBefore = seen.right;
    await waitFor(async () => seen.right > rightBefore + recipients.length, 30_000, 'the poller getting answers before the rebalance');
    await c.service.stop();
    // After the rebalance a and b own all six partitions again and both answer everything.
    await waitFor(async () => (await a.service.ready()) && (await b.service.ready()) && (await allAnswersRight([a, b])), 120_000, 'a and b answering every recipient after c left');
    const rightAfterRebalance = seen.right;
    await waitFor(async () => seen.right > rightAfterRebalance + 2 * recipients.length, 60_000, 'the poller getting answers after the rebalance');
    polling = false;
    await poll;
    expect(wrong).toEqual([]);
    // The partitions moved: some answers had to wait (503), none was wrong.
    expect(seen.unavailable).toBeGreaterThan(0);
    console.info(`query during rebalance: ${seen.right} right answers, ${seen.unavailable} 503 with Retry-After (${[...unavailableBecause].map(([reason, count]) => `${count}× ${reason}`).join('; ')}), ${wrong.length} wrong`);

    // Preview = the decision a real trigger with the same settings and state gets.
    const triggerAt = Date.now();
    const settings = (id: string, i: number) => ({
      channel: i % 4 === 3 ? 'PUSH' : 'EMAIL',
      windowHours: String(12 + (i % 3) * 24),
      quietHours: i % 2 === 0 ? '21:00-08:00' : '',
      triggerId: `trigger-${id}`,
      campaignId: `campaign-${i % 2}`,
      at: String(triggerAt),
    });
    const previews = new Map<string, Record<string, unknown>>();
    for (const [i, id] of recipients.entries()) {
      const params = new URLSearchParams(Object.entries(settings(id, i)).filter(([, value]) => value !== ''));
      const answer = await ask([a, b][i % 2]!.port, `/recipients/${encodeURIComponent(id)}/preview?${params}`);
      expect(answer?.status, JSON.stringify(answer?.body)).toBe(200);
      expect(answer!.body!.outcome).toBe('scheduled');
      previews.set(id, answer!.body!.decision as Record<string, unknown>);
    }
    const triggers: SendTrigger[] = recipients.map((id, i) => {
      const s = settings(id, i);
      const [start, end] = s.quietHours ? s.quietHours.split('-').map((hhmm) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3))) : [];
      return {
        triggerId: s.triggerId,
        recipientId: id,
        campaignId: s.campaignId,
        messageId: null,
        channel: s.channel as SendTrigger['channel'],
        triggerKind: 'CAMPAIGN',
        urgency: 'NORMAL',
        occurredAt: triggerAt,
        timeZone: null,
        windowHours: Number(s.windowHours),
        sendAt: null,
        quietHours: start === undefined ? null : { startMinute: start, endMinute: end! },
        quietHoursPolicy: null,
        defaultLocalMinute: null,
        objective: 'OPEN',
        holdoutShare: null,
        payload: Buffer.alloc(0),
        attributes: {},
      };
    });
    await produceRecords({ kafka, codec, topic: topics.triggers, contract: 'trigger', records: triggers, key: (trigger) => trigger.recipientId });
    const scheduled = await readTopic<ScheduledSend>({ kafka, codec, topic: topics.scheduled, contract: 'scheduled', count: recipients.length, timeoutMs: 90_000 });
    expect(scheduled.length).toBe(recipients.length);
    const reasons = new Set<string>();
    for (const { value } of scheduled) {
      const preview = previews.get(value.recipientId)!;
      reasons.add(value.reason);
      expect(
        {
          scheduleId: preview.scheduleId,
          sendAt: preview.sendAtMs,
          localSendTime: preview.localSendTime,
          timeZone: preview.timeZone,
          timeZoneSource: preview.timeZoneSource,
          reason: preview.reason,
          propensity: preview.propensity,
          exploration: preview.exploration,
          arm: preview.arm,
          bindingConstraint: preview.bindingConstraint,
          evidence: preview.evidence,
          historyEvents: (preview.historyDepth as { events: number }).events,
          historyActiveDays: (preview.historyDepth as { activeDays: number }).activeDays,
          topSlots: (preview.topSlots as { sendAtMs: number; hourOfWeek: number; score: number }[]).map((slot) => ({ sendAt: slot.sendAtMs, hourOfWeek: slot.hourOfWeek, score: slot.score })),
        },
        value.recipientId,
      ).toEqual({
        scheduleId: value.scheduleId,
        sendAt: value.sendAt,
        localSendTime: value.localSendTime,
        timeZone: value.timeZone,
        timeZoneSource: value.timeZoneSource,
        reason: value.reason,
        propensity: value.propensity,
        exploration: value.exploration,
        arm: value.arm,
        bindingConstraint: value.bindingConstraint,
        evidence: value.evidence,
        historyEvents: value.historyEvents,
        historyActiveDays: value.historyActiveDays,
        topSlots: value.topSlots,
      });
    }
    console.info(`previews compared with real decisions: ${scheduled.length}, reasons ${[...reasons].join(', ')}`);
  }, 420_000);
});
