import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RegistryConfig } from '../../../services/shared/config/common-config.ts';
import { REGISTRY_RETRIES, createSchemaRegistryClient, registryFailure } from '../../../services/shared/contracts/schema-codec.ts';
import { registerSchemas } from '../../../services/shared/contracts/register-schemas.ts';
import { ErrorCode, StoError } from '../../../services/shared/errors.ts';

// A registry that stalls or fails must not hang the caller nor fail it on the first try: every
// request (GET, and the POSTs of register, lookup-by-schema and compatibility checks) times out
// after STO_SCHEMA_REGISTRY_TIMEOUT_MS, is retried with backoff, and gives a clear error after
// its budget.

let server: Server | null = null;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = null;
});

type Misbehaviour = 'stall' | 500;

interface FakeRegistry {
  config: (timeoutMs: number) => RegistryConfig;
  /** Requests seen, as "METHOD path". */
  requests: string[];
}

const SCHEMA = JSON.stringify({ type: 'record', name: 'R', namespace: 'test', fields: [{ name: 'a', type: 'string' }] });

/** Misbehaves for the first `bad` requests of each method in `methods`, then answers as a registry would. */
async function fakeRegistry(bad: number, how: Misbehaviour, methods: string[]): Promise<FakeRegistry> {
  const requests: string[] = [];
  const seen = new Map<string, number>();
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const method = request.method ?? 'GET';
    const path = request.url ?? '/';
    requests.push(`${method} ${path}`);
    const count = (seen.get(method) ?? 0) + 1;
    seen.set(method, count);
    request.resume();
    request.on('end', () => {
      if (methods.includes(method) && count <= bad) {
        if (how === 'stall') return; // never answers
        response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error_code: 50001, message: 'storage busy' }));
        return;
      }
      const json = (status: number, body: unknown) =>
        response.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify(body));
      if (method === 'GET' && path.startsWith('/config/')) return json(404, { error_code: 40401, message: 'Subject not found' });
      if (method === 'PUT' && path.startsWith('/config/')) return json(200, { compatibility: 'BACKWARD' });
      if (method === 'POST' && path.startsWith('/compatibility/')) return json(200, { is_compatible: true });
      if (method === 'POST' && path.endsWith('/versions')) return json(200, { id: 42 });
      return json(200, { subject: 'sto.test-value', version: 1, id: 42, schema: SCHEMA });
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    requests,
    config: (timeoutMs) => ({ url: `http://127.0.0.1:${port}`, username: null, password: null, timeoutMs, unknownIdGraceMs: 0 }),
  };
}

const count = (requests: string[], method: string) => requests.filter((request) => request.startsWith(`${method} `)).length;

describe('schema registry client', () => {
  it('times out a GET the registry never answers and retries it', async () => {
    const registry = await fakeRegistry(2, 'stall', ['GET']);
    const client = createSchemaRegistryClient(registry.config(200));
    const started = Date.now();
    expect(await client.getLatestSchemaId('sto.test-value')).toBe(42);
    expect(registry.requests).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it('retries a register (POST) that stalls, then registers', async () => {
    const registry = await fakeRegistry(2, 'stall', ['POST']);
    const client = createSchemaRegistryClient(registry.config(200));
    const { id } = await client.register({ type: SchemaType.AVRO, schema: SCHEMA }, { subject: 'sto.test-value' });
    expect(id).toBe(42);
    expect(count(registry.requests, 'POST')).toBe(3);
  });

  it('retries a lookup by schema (POST) that gets HTTP 500, then finds the id', async () => {
    const registry = await fakeRegistry(3, 500, ['POST']);
    const client = createSchemaRegistryClient(registry.config(1_000));
    expect(await client.getRegistryIdBySchema('sto.test-value', { type: SchemaType.AVRO, schema: SCHEMA })).toBe(42);
    expect(count(registry.requests, 'POST')).toBe(4);
  });

  it('retries the config update (PUT) and the register (POST) of the bootstrap step', async () => {
    const registry = await fakeRegistry(2, 500, ['PUT', 'POST']);
    const client = createSchemaRegistryClient(registry.config(1_000));
    const ids = await registerSchemas(client, [{ name: 'sto.engagement.events.v1', contract: 'engagement' } as never], registry.config(1_000));
    expect(Object.values(ids)).toEqual([42]);
    expect(count(registry.requests, 'POST')).toBe(3);
    expect(count(registry.requests, 'PUT')).toBe(3);
  });

  it('gives up on a GET the registry never answers with an error, not a hang', async () => {
    const registry = await fakeRegistry(Number.POSITIVE_INFINITY, 'stall', ['GET']);
    const client = createSchemaRegistryClient(registry.config(100));
    await expect(client.getLatestSchemaId('sto.test-value')).rejects.toThrow(/Timeout/);
    expect(registry.requests).toHaveLength(REGISTRY_RETRIES + 1);
  });

  it('gives up on a register that always stalls with an error naming the registry, the budget and the variable', async () => {
    const registry = await fakeRegistry(Number.POSITIVE_INFINITY, 'stall', ['POST']);
    const config = registry.config(100);
    const client = createSchemaRegistryClient(config);
    const failure = await registerSchemas(client, [{ name: 'sto.engagement.events.v1', contract: 'engagement' } as never], config).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(StoError);
    const error = failure as StoError;
    expect(error.code).toBe(ErrorCode.REGISTRY_UNAVAILABLE);
    expect(error.retriable).toBe(true);
    expect(error.message).toContain(config.url);
    expect(error.message).toContain(`no answer within 100 ms (STO_SCHEMA_REGISTRY_TIMEOUT_MS) in ${REGISTRY_RETRIES + 1} attempts`);
    expect(error.message).toContain('sto.engagement.events.v1-value');
    expect(count(registry.requests, 'POST')).toBe(REGISTRY_RETRIES + 1);
  });

  it('describes an HTTP 5xx after the budget with the status and the attempts', () => {
    const config: RegistryConfig = { url: 'http://registry:8081', username: null, password: null, timeoutMs: 5_000, unknownIdGraceMs: 0 };
    const error = registryFailure('registering x', config, Object.assign(new Error('storage busy'), { status: 503 }));
    expect(error.message).toBe(`registering x: schema registry http://registry:8081: HTTP 503 in ${REGISTRY_RETRIES + 1} attempts: storage busy`);
    expect(error.retriable).toBe(true);
  });
});
