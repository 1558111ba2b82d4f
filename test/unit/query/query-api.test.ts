import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { FORWARDED_HEADER, QueryApi } from '../../../services/engine/query-api.ts';
import { RecipientQuery } from '../../../services/engine/recipient-query.ts';
import type { JsonRequest } from '../../../services/shared/admin-server.ts';
import { AssignerProtocol } from '../../../services/shared/kafka/kafkajs.ts';
import { partitionOfKey } from '../../../services/shared/kafka/key-partition.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { coPartitionedAssigner } from '../../../services/shared/stream/co-partitioned-assigner.ts';
import { tableOf, type RoutingTable } from '../../../services/shared/stream/group-routing.ts';
import type { PartitionRead } from '../../../services/shared/stream/partitioned-runner.ts';
import type { PartitionStore } from '../../../services/shared/stream/partition-store.ts';

const PARTITIONS = 4;
const SECRET_ID = 'secret-person@example.com';
const PARTITION = partitionOfKey(SECRET_ID, PARTITIONS);

function request(path: string, headers: Record<string, string> = {}): JsonRequest {
  const url = new URL(path, 'http://x');
  return { path: url.pathname, query: url.searchParams, headers };
}

function harness(options: { table?: RoutingTable | null; local?: 'not-owned' | 'restoring' | 'rebalancing' | 'ok'; fetchFails?: boolean } = {}) {
  const logs: string[] = [];
  const logger = createLogger('query-test', 'debug', new Writable({ write: (chunk, _encoding, done) => (logs.push(String(chunk)), done()) }));
  const fetched: { url: string; headers: Record<string, string> }[] = [];
  let invalidated = 0;
  const owners = new Map([[PARTITION, { instanceId: 'engine-b', adminUrl: 'http://10.0.0.2:9401' }]]);
  const table = options.table === undefined ? { partitionCount: PARTITIONS, owners } : options.table;
  const fakeFetch = (async (url: URL, init: RequestInit) => {
    fetched.push({ url: String(url), headers: init.headers as Record<string, string> });
    if (options.fetchFails) throw new Error('connect ECONNREFUSED');
    return new Response(JSON.stringify({ answeredBy: { instanceId: 'engine-b' }, found: true }), { status: 200 });
  }) as typeof fetch;
  const api = new QueryApi({
    instanceId: 'engine-a',
    adminUrl: 'http://10.0.0.1:9401',
    query: new RecipientQuery(compileEngineConfig({}), () => null),
    readPartition: async <T>(_partition: number, read: (store: PartitionStore) => Promise<T>): Promise<PartitionRead<T>> => {
      const local = options.local ?? 'not-owned';
      if (local !== 'ok') return { ok: false, reason: local };
      return { ok: true, value: await read({ partition: PARTITION } as PartitionStore).catch(() => ({ read: true }) as T) };
    },
    routing: { partitionCount: async () => PARTITIONS, table: async () => table, invalidate: () => void invalidated++ },
    logger,
    fetch: fakeFetch,
  });
  return { api, logs, fetched, invalidated: () => invalidated };
}

const profilePath = `/recipients/${encodeURIComponent(SECRET_ID)}/profile`;

describe('query API routing', () => {
  it('forwards to the owner of the recipient’s partition with its credentials, marked as forwarded', async () => {
    const { api, fetched } = harness();
    const answer = await api.handle(request(`${profilePath}?at=5`, { authorization: 'Bearer t' }));
    expect(answer.status).toBe(200);
    expect(fetched).toEqual([{ url: `http://10.0.0.2:9401${profilePath}?at=5`, headers: { [FORWARDED_HEADER]: 'engine-a', accept: 'application/json', authorization: 'Bearer t' } }]);
    expect((answer.body as { answeredBy: { instanceId: string } }).answeredBy.instanceId).toBe('engine-b');
  });

  it('answers from its own store when it owns the partition, naming itself', async () => {
    const { api, fetched } = harness({ local: 'ok' });
    const answer = await api.handle(request(profilePath));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ recipientId: SECRET_ID, answeredBy: { instanceId: 'engine-a', adminUrl: 'http://10.0.0.1:9401' }, forwardedBy: null });
    expect(fetched).toEqual([]);
  });

  it('the owner answers its own partitions while the group table is being read again', async () => {
    const { api } = harness({ table: null, local: 'ok' });
    expect((await api.handle(request(profilePath))).status).toBe(200);
  });

  it.each([
    ['the group rebalances (no table)', { table: null }],
    ['the partition is restoring here', { local: 'restoring' as const }],
    ['a rebalance fenced the partition', { local: 'rebalancing' as const }],
    ['the owner does not answer', { fetchFails: true }],
  ])('503 with Retry-After when %s, and nothing about the recipient in the logs', async (_case, options) => {
    const { api, logs } = harness(options);
    const answer = await api.handle(request(profilePath));
    expect(answer.status).toBe(503);
    expect(answer.headers?.['retry-after']).toBe('1');
    expect(logs.join('')).not.toContain('secret-person');
  });

  it('a forwarded request is answered here or not at all: never forwarded again', async () => {
    const { api, fetched } = harness();
    const answer = await api.handle(request(profilePath, { [FORWARDED_HEADER]: 'engine-c' }));
    expect(answer.status).toBe(503);
    expect(fetched).toEqual([]);
  });

  it('a table that names this instance as owner while it does not own the partition: 503 and the table is read again', async () => {
    const owners = new Map([[PARTITION, { instanceId: 'engine-a', adminUrl: 'http://10.0.0.1:9401' }]]);
    const { api, fetched, invalidated } = harness({ table: { partitionCount: PARTITIONS, owners } });
    expect((await api.handle(request(profilePath))).status).toBe(503);
    expect(fetched).toEqual([]);
    expect(invalidated()).toBe(1);
  });

  it('400 for bad parameters and ids, 404 for other routes', async () => {
    const { api } = harness();
    expect((await api.handle(request(`/recipients/x/preview?channel=FAX`))).status).toBe(400);
    expect((await api.handle(request(`/recipients/x/preview`))).status).toBe(400);
    expect((await api.handle(request(`/recipients/x/profile?at=yesterday`))).status).toBe(400);
    expect((await api.handle(request(`/recipients/${'x'.repeat(257)}/profile`))).status).toBe(400);
    expect((await api.handle(request(`/recipients/%E0%A4%A/profile`))).status).toBe(400);
    expect((await api.handle(request(`/recipients/x/history`))).status).toBe(404);
  });

  it('the routing table is read from the members’ advertised addresses and assignments', () => {
    const members = [
      { memberId: 'm1', instanceId: 'engine-a', owned: [0, 2], adminUrl: 'http://a:1' },
      { memberId: 'm2', instanceId: 'engine-b', owned: [1, 3], adminUrl: 'http://b:2' },
    ].map((member) => {
      const assigner = coPartitionedAssigner({ instanceId: member.instanceId, owned: () => member.owned, adminUrl: member.adminUrl })({ cluster: {} as never, groupId: 'g', logger: {} as never });
      return {
        memberMetadata: assigner.protocol({ topics: ['t'] }).metadata,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: { t: member.owned }, userData: Buffer.alloc(0) }),
      };
    });
    const table = tableOf(members, 't', 4)!;
    expect(table.partitionCount).toBe(4);
    expect(Object.fromEntries(table.owners)).toEqual({
      0: { instanceId: 'engine-a', adminUrl: 'http://a:1' },
      1: { instanceId: 'engine-b', adminUrl: 'http://b:2' },
      2: { instanceId: 'engine-a', adminUrl: 'http://a:1' },
      3: { instanceId: 'engine-b', adminUrl: 'http://b:2' },
    });
  });
});
