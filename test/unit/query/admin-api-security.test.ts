import { spawn } from 'node:child_process';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer } from '../../../services/shared/admin-server.ts';
import { adminExposureProblem, readCommonConfig } from '../../../services/shared/config/common-config.ts';
import { EnvReader } from '../../../services/shared/config/env-reader.ts';
import { ConfigError } from '../../../services/shared/errors.ts';

const TOKEN = 'a-long-enough-token-0123456789';

function compile(env: Record<string, string>) {
  const reader = new EnvReader(env);
  return reader.done(readCommonConfig(reader, 'test', 9400));
}

function problemOf(env: Record<string, string>): string {
  try {
    compile(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('admin API security', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function serve(apiToken: string | null): Promise<number> {
    const admin = new AdminServer({ host: '127.0.0.1', port: 0, registry: new Registry(), apiToken });
    admin.mount('/recipients/', async (request) => ({ status: 200, body: { path: request.path, at: request.query.get('at') } }));
    const port = await admin.start();
    closers.push(() => admin.stop());
    return port;
  }

  const get = async (port: number, path: string, authorization?: string) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: authorization ? { authorization } : {} });
    return { status: response.status, body: await response.text(), wwwAuthenticate: response.headers.get('www-authenticate') };
  };

  it('with STO_ADMIN_TOKEN, mounted routes need the bearer token; metrics and probes stay open', async () => {
    const port = await serve(TOKEN);
    expect((await get(port, '/recipients/x/profile')).status).toBe(401);
    expect((await get(port, '/recipients/x/profile')).wwwAuthenticate).toBe('Bearer');
    expect((await get(port, '/recipients/x/profile', `Bearer ${TOKEN}x`)).status).toBe(401);
    expect((await get(port, '/recipients/x/profile', `Basic ${TOKEN}`)).status).toBe(401);
    const ok = await get(port, '/recipients/x/profile?at=5', `Bearer ${TOKEN}`);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ path: '/recipients/x/profile', at: '5' });
    for (const path of ['/metrics', '/livez']) expect((await get(port, path)).status, path).toBe(200);
    expect((await get(port, '/readyz')).status).toBe(503); // not ready, but answered without a token
    expect((await get(port, '/nothing-here', `Bearer ${TOKEN}`)).status).toBe(404);
  });

  it('without a token, mounted routes answer on loopback', async () => {
    const port = await serve(null);
    expect((await get(port, '/recipients/x/profile')).status).toBe(200);
  });

  it('STO_ADMIN_TOKEN is validated and never echoed', () => {
    const short = problemOf({ STO_ADMIN_TOKEN: 'tooshort' });
    expect(short).toContain('STO_ADMIN_TOKEN');
    expect(short).toContain('at least 16 characters');
    expect(short).not.toContain('tooshort');
    expect(problemOf({ STO_ADMIN_TOKEN: 'has a space in it, long enough' })).toContain('visible ASCII');
    expect(compile({ STO_ADMIN_TOKEN: TOKEN }).adminToken).toBe(TOKEN);
    expect(problemOf({ STO_ADMIN_ADVERTISED_URL: 'engine-1:9401' })).toContain('STO_ADMIN_ADVERTISED_URL');
    expect(compile({ STO_ADMIN_ADVERTISED_URL: 'http://engine-1:9401' }).adminAdvertisedUrl).toBe('http://engine-1:9401');
  });

  it('a non-loopback bind without a token is refused unless explicitly allowed', () => {
    expect(adminExposureProblem(compile({}))).toBeNull();
    expect(adminExposureProblem(compile({ STO_ADMIN_HOST: '0.0.0.0' }))).toContain('STO_ADMIN_TOKEN');
    expect(adminExposureProblem(compile({ STO_ADMIN_HOST: '10.1.2.3' }))).toContain('STO_ADMIN_ALLOW_UNAUTHENTICATED=true');
    expect(adminExposureProblem(compile({ STO_ADMIN_HOST: '0.0.0.0', STO_ADMIN_TOKEN: TOKEN }))).toBeNull();
    expect(adminExposureProblem(compile({ STO_ADMIN_HOST: '0.0.0.0', STO_ADMIN_ALLOW_UNAUTHENTICATED: 'true' }))).toBeNull();
    expect(adminExposureProblem(compile({ STO_ADMIN_HOST: '127.0.0.2' }))).toBeNull();
  });

  it('the engine bound to 0.0.0.0 without a token exits 78 naming STO_ADMIN_TOKEN, before it binds or contacts a broker', async () => {
    const child = spawn(process.execPath, ['services/engine/main.ts'], {
      cwd: new URL('../../../', import.meta.url),
      env: { ...process.env, STO_ADMIN_HOST: '0.0.0.0', STO_ADMIN_PORT: '0', STO_ADMIN_TOKEN: '', STO_ADMIN_ALLOW_UNAUTHENTICATED: '', STO_KAFKA_BROKERS: '127.0.0.1:1', STO_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(stderr).toContain('STO_ADMIN_TOKEN: STO_ADMIN_HOST=0.0.0.0 would serve the query API');
    expect(code).toBe(78);
  });
});
