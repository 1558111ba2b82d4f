import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSchemaRegistryClient } from '../../../services/shared/contracts/schema-codec.ts';

// A registry that leaves a request unanswered must not hang the caller: the request times out
// after the configured STO_SCHEMA_REGISTRY_TIMEOUT_MS and is retried.

let server: Server | null = null;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = null;
});

async function registryThatIgnores(unanswered: number): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  server = createServer((request, response) => {
    requests++;
    if (requests <= unanswered) return; // never answers
    response.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
    response.end(JSON.stringify({ subject: 'sto.engagement-value', version: 1, id: 42, schema: '"string"' }));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests: () => requests };
}

describe('schema registry client', () => {
  it('times out a request the registry never answers and retries it', async () => {
    const registry = await registryThatIgnores(2);
    const client = createSchemaRegistryClient({ url: registry.url, username: null, password: null, timeoutMs: 200 });
    const started = Date.now();
    expect(await client.getLatestSchemaId('sto.engagement-value')).toBe(42);
    expect(registry.requests()).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it('gives up with an error, not a hang, when the registry never answers', async () => {
    const registry = await registryThatIgnores(Number.POSITIVE_INFINITY);
    const client = createSchemaRegistryClient({ url: registry.url, username: null, password: null, timeoutMs: 100 });
    await expect(client.getLatestSchemaId('sto.engagement-value')).rejects.toThrow(/Timeout/);
    expect(registry.requests()).toBe(6);
  });
});
