import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer } from '../../../services/shared/admin-server.ts';
import { readCommonConfig } from '../../../services/shared/config/common-config.ts';
import { EnvReader } from '../../../services/shared/config/env-reader.ts';
import { redactUrl } from '../../../services/shared/config/redact-url.ts';
import { assertRegistryReachable, createSchemaCodec, waitForRegistry } from '../../../services/shared/contracts/schema-codec.ts';
import { registerSchemas } from '../../../services/shared/contracts/register-schemas.ts';
import { createSchemaRegistryClient } from '../../../services/shared/contracts/schema-codec.ts';
import { ConfigError, errorMessage } from '../../../services/shared/errors.ts';
import { createLogger } from '../../../services/shared/logger.ts';

function compile(env: Record<string, string>) {
  const reader = new EnvReader(env);
  return reader.done(readCommonConfig(reader, 'test', 9400));
}

function configError(env: Record<string, string>): ConfigError {
  try {
    compile(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const SECRET = 's3cr%21t-pw';
const DECODED_SECRET = 's3cr!t-pw';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe('SASL over plaintext', () => {
  const sasl = { STO_KAFKA_SASL_MECHANISM: 'plain', STO_KAFKA_SASL_USERNAME: 'svc', STO_KAFKA_SASL_PASSWORD: 'pw' };

  it('is refused, naming the variable that allows it', () => {
    const error = configError(sasl);
    expect(error.message).toContain('STO_KAFKA_SASL_MECHANISM');
    expect(error.message).toContain('STO_KAFKA_SSL=true');
    expect(error.message).toContain('STO_KAFKA_ALLOW_PLAINTEXT_SASL=true');
  });

  it('is accepted with TLS, or when explicitly allowed', () => {
    expect(compile({ ...sasl, STO_KAFKA_SSL: 'true' }).kafka.saslMechanism).toBe('plain');
    expect(compile({ ...sasl, STO_KAFKA_ALLOW_PLAINTEXT_SASL: 'true' }).kafka.allowPlaintextSasl).toBe(true);
  });
});

describe('registry basic auth over http://', () => {
  const auth = { STO_SCHEMA_REGISTRY_USERNAME: 'svc', STO_SCHEMA_REGISTRY_PASSWORD: 'pw' };

  it('is refused, naming the variable that allows it', () => {
    const error = configError({ ...auth, STO_SCHEMA_REGISTRY_URL: 'http://registry:8081' });
    expect(error.message).toContain('STO_SCHEMA_REGISTRY_URL');
    expect(error.message).toContain('STO_SCHEMA_REGISTRY_ALLOW_PLAINTEXT_AUTH=true');
  });

  it('is accepted over https://, or when explicitly allowed', () => {
    expect(compile({ ...auth, STO_SCHEMA_REGISTRY_URL: 'https://registry:8081' }).registry.username).toBe('svc');
    expect(compile({ ...auth, STO_SCHEMA_REGISTRY_URL: 'http://registry:8081', STO_SCHEMA_REGISTRY_ALLOW_PLAINTEXT_AUTH: 'true' }).registry.password).toBe('pw');
  });

  it('is refused when the credentials come inside the URL too', () => {
    const error = configError({ STO_SCHEMA_REGISTRY_URL: `http://svc:${SECRET}@registry:8081` });
    expect(error.message).toContain('STO_SCHEMA_REGISTRY_ALLOW_PLAINTEXT_AUTH=true');
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain(DECODED_SECRET);
  });
});

describe('credentials embedded in a URL', () => {
  it('move out of the URL into the user name and password', () => {
    const config = compile({ STO_SCHEMA_REGISTRY_URL: `https://svc:${SECRET}@registry:8081/apis/ccompat/v7/` });
    expect(config.registry.url).toBe('https://registry:8081/apis/ccompat/v7');
    expect(config.registry.username).toBe('svc');
    expect(config.registry.password).toBe(DECODED_SECRET);
    expect(JSON.stringify(config)).not.toContain(SECRET);
  });

  it('are not echoed by the error for an invalid URL', () => {
    const error = configError({ STO_SCHEMA_REGISTRY_URL: `ftp://svc:${SECRET}@registry:8081` });
    expect(error.message).toContain('STO_SCHEMA_REGISTRY_URL="ftp://***@registry:8081"');
    expect(error.message).not.toContain(SECRET);
    expect(redactUrl(`http://svc:${SECRET}@[::1`)).toBe('http://***@[::1');
  });

  it('are never printed by registry errors or start-up log lines', async () => {
    // A port with nothing listening: refused at once.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const config = compile({ STO_SCHEMA_REGISTRY_URL: `https://svc:${SECRET}@127.0.0.1:${port}`, STO_SCHEMA_REGISTRY_TIMEOUT_MS: '200' }).registry;

    const printed: string[] = [];
    printed.push(await assertRegistryReachable(config).then(() => 'reached', errorMessage));
    printed.push(await createSchemaCodec(config).writer('engagement', 'sto.test-value').then(() => 'found', errorMessage));
    printed.push(
      await registerSchemas(createSchemaRegistryClient(config), [{ name: 'sto.test', contract: 'engagement' } as never], config).then(() => 'registered', errorMessage),
    );
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        printed.push(chunk.toString());
        done();
      },
    });
    const abort = new AbortController();
    const logger = createLogger('test', 'info', sink);
    const waiting = waitForRegistry(config, logger, async () => 1, { maxDelayMs: 10, signal: abort.signal });
    const deadline = Date.now() + 10_000;
    while (printed.filter((line) => line.includes('waiting for the schema registry')).length < 2) {
      if (Date.now() > deadline) throw new Error('no two "waiting for the schema registry" log lines within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    abort.abort();
    await waiting.catch(() => undefined);

    expect(printed.join('\n')).toContain(`127.0.0.1:${port}`);
    for (const line of printed) {
      expect(line).not.toContain(SECRET);
      expect(line).not.toContain(DECODED_SECRET);
      expect(line).not.toContain('svc:');
    }
  });
});

describe('admin port', () => {
  it('already in use stops start-up with a message naming STO_ADMIN_PORT', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => taken.close(() => resolve())));
    const { port } = taken.address() as AddressInfo;
    const admin = new AdminServer({ host: '127.0.0.1', port, registry: new Registry() });
    const error = await admin.start().then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('STO_ADMIN_PORT');
    expect((error as ConfigError).message).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect((error as ConfigError).code).toBe('CONFIG_INVALID');
  });

  it.each(['engine', 'delay'])('in use stops the %s at start-up, exit 78, with a message naming STO_ADMIN_PORT', async (service) => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => taken.close(() => resolve())));
    const { port } = taken.address() as AddressInfo;
    // The admin port is bound before any broker or registry is contacted: nothing here leaves the machine.
    const child = spawn(process.execPath, [`services/${service}/main.ts`], {
      cwd: new URL('../../../', import.meta.url),
      env: { ...process.env, STO_ADMIN_PORT: String(port), STO_KAFKA_BROKERS: '127.0.0.1:1', STO_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(stderr).toContain(`STO_ADMIN_PORT: port ${port} on 127.0.0.1 is already in use`);
    expect(code).toBe(78);
  });

  it('answers live and not ready, with what start-up waits for, until the service hands over its health', async () => {
    const admin = new AdminServer({ host: '127.0.0.1', port: 0, registry: new Registry() });
    const port = await admin.start();
    closers.push(() => admin.stop());
    admin.waitingFor('schema registry');
    expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
    const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toEqual({ ready: false, starting: true, waitingFor: 'schema registry' });
    admin.serve({ isLive: () => true, readiness: () => ({ ready: true, detail: {} }) });
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  });
});
