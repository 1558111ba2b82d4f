import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { freePort } from '../support/free-port.ts';
import { until } from '../support/wait.ts';

// Registry down at service start: the delay service does not exit (a supervisor would restart it
// in a loop); it stays live and not ready, says in its log that it waits for the registry, and
// becomes ready once the registry answers.


const logLines = (path: string): Record<string, unknown>[] => {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  } catch {
    return [];
  }
};

describe('registry down at service start', () => {
  const topics = uniqueTopics('regstart');
  const registryUrl = new URL(stackConfig().registry.url);
  const proxy = new TcpProxy({ host: registryUrl.hostname, port: Number(registryUrl.port) });
  let stateDir: { path: string; remove: () => Promise<void> };
  let delay: ChildService;
  let logPath: string;

  beforeAll(async () => {
    await createTestTopics(topics, 2);
    const port = await proxy.start('refuse');
    stateDir = await temporaryDir('regstart');
    logPath = `${stateDir.path}.log`;
    delay = new ChildService({
      name: 'delay',
      entry: ChildService.entry('delay'),
      env: {
        ...topicEnv(topics),
        STO_SCHEMA_REGISTRY_URL: `http://127.0.0.1:${port}${registryUrl.pathname}`,
        STO_SCHEMA_REGISTRY_TIMEOUT_MS: '1000',
        STO_STATE_DIR: stateDir.path,
        STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`,
        STO_LOG_LEVEL: 'info',
      },
      adminPort: await freePort(),
      logPath,
    });
  });

  afterAll(async () => {
    await delay?.stop();
    await proxy.close();
    await stateDir?.remove();
  });

  it('waits live and unready while the registry refuses, then stalls, and becomes ready when it answers', async () => {
    delay.start();
    const waiting = (line: Record<string, unknown>) => String(line.msg).startsWith('waiting for the schema registry');
    // Refused connections: two logged attempts, the process still running, live and not ready.
    await until('two "waiting for the schema registry" log lines', 30_000, async () => {
      if (!delay.running) throw new Error(`the delay service exited while the registry was down (a crash loop under a supervisor); log: ${logPath}`);
      return logLines(logPath).filter(waiting).length >= 2;
    });
    expect(delay.running).toBe(true);
    const live = await fetch(`http://127.0.0.1:${delay.adminPort}/livez`);
    expect(live.status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${delay.adminPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, waitingFor: 'schema registry' });
    const refused = logLines(logPath).filter(waiting);
    expect(String(refused[0]?.reason)).toMatch(/ECONNREFUSED|fetch failed/);
    expect(refused[0]?.registry).toBe(`http://127.0.0.1:${proxy.port}${registryUrl.pathname}`);

    // A registry that accepts and never answers: one more logged attempt, still running.
    await proxy.silent();
    const before = logLines(logPath).filter(waiting).length;
    await until('a "waiting" log line while the registry stalls', 20_000, async () => logLines(logPath).filter(waiting).length > before);
    expect(delay.running).toBe(true);
    expect(proxy.connections).toBeGreaterThan(0);

    await proxy.forward();
    await delay.waitReady(45_000);
    expect(logLines(logPath).some((line) => line.msg === 'schema registry answers: starting')).toBe(true);
  });
});
