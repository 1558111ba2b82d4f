import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import { engineEnv } from '../support/engine-fixture.ts';
import { createTestTopics, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { freePort } from '../support/free-port.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}${path}`, 'utf8');

/** Metric families a /metrics text declares (`# TYPE name type`). */
function declaredMetrics(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name!, type!]));
}

/** The sto_ metric families a PromQL text names; a histogram's _bucket, _sum and _count name the histogram. */
function namedMetrics(text: string, declared: Map<string, string>): string[] {
  const names = new Set<string>();
  for (const [name] of text.matchAll(/\bsto_[a-z_]+/g)) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    names.add(base !== name && declared.get(base) === 'histogram' ? base : name);
  }
  return [...names].sort();
}

/** prom-client's default process and Node.js metrics carry the prefix too; the README documents them as a group. */
const isDefaultMetric = (name: string) => /^sto_(process|nodejs)_/.test(name);

describe('dashboards, alert rules and the metrics table match what the services expose', () => {
  const topics = uniqueTopics('observability');
  let engineDir: { path: string; remove: () => Promise<void> };
  let delayDir: { path: string; remove: () => Promise<void> };
  let engine: ChildService;
  let delay: ChildService;
  let outcomesDir: { path: string; remove: () => Promise<void> };
  let outcomes: ChildService;
  const declared = new Map<string, string>();

  beforeAll(async () => {
    await createTestTopics(topics, 2);
    engineDir = await temporaryDir('observability-engine');
    delayDir = await temporaryDir('observability-delay');
    engine = new ChildService({ name: 'engine', entry: ChildService.entry('engine'), env: { ...topicEnv(topics), ...engineEnv(topics, engineDir.path) }, adminPort: await freePort(), logPath: `${engineDir.path}.log` });
    delay = new ChildService({
      name: 'delay',
      entry: ChildService.entry('delay'),
      env: { ...topicEnv(topics), STO_STATE_DIR: delayDir.path, STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`, STO_LOG_LEVEL: 'warn' },
      adminPort: await freePort(),
      logPath: `${delayDir.path}.log`,
    });
    outcomesDir = await temporaryDir('observability-outcomes');
    outcomes = new ChildService({
      name: 'outcomes',
      entry: ChildService.entry('outcomes'),
      env: { ...topicEnv(topics), STO_STATE_DIR: outcomesDir.path, STO_OUTCOMES_GROUP_ID: `${topics.scheduled}.outcomes`, STO_LOG_LEVEL: 'warn' },
      adminPort: await freePort(),
      logPath: `${outcomesDir.path}.log`,
    });
    engine.start();
    delay.start();
    outcomes.start();
    await Promise.all([engine.waitReady(120_000), delay.waitReady(120_000), outcomes.waitReady(120_000)]);
    for (const service of [engine, delay, outcomes]) for (const [name, type] of declaredMetrics(await service.metricsText())) declared.set(name, type);
  });

  afterAll(async () => {
    await Promise.all([engine?.stop(), delay?.stop(), outcomes?.stop()]);
    await Promise.all([engineDir?.remove(), delayDir?.remove(), outcomesDir?.remove()]);
  });

  it('the services report readiness and liveness as metrics', async () => {
    expect(await engine.metric('sto_ready')).toBe(1);
    expect(await delay.metric('sto_live')).toBe(1);
  });

  it('every metric the Grafana dashboard queries exists', () => {
    const dashboard = JSON.parse(read('infra/grafana/provisioning/dashboards/sto-pipeline.json')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
    expect(exprs.length).toBeGreaterThan(10);
    const named = namedMetrics(exprs.join('\n'), declared);
    expect(named.filter((name) => !declared.has(name))).toEqual([]);
  });

  it('every metric an alert rule names exists', () => {
    const named = namedMetrics(read('infra/prometheus/alerts.yml'), declared);
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((name) => !declared.has(name))).toEqual([]);
  });

  it("the README's metrics table lists every metric of the services, and nothing else", () => {
    const listed = [...read('README.md').matchAll(/^\| `(sto_[a-z_]+)` \|/gm)].map(([, name]) => name!).sort();
    const exposed = [...declared.keys()].filter((name) => !isDefaultMetric(name)).sort();
    expect({ missing: exposed.filter((name) => !listed.includes(name)), unknown: listed.filter((name) => !declared.has(name)) }).toEqual({ missing: [], unknown: [] });
  });

  it('the alert rules pass promtool check and their unit tests', () => {
    const promtool = execFileSync('bash', [`${ROOT}infra/promtool.sh`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
    const run = (args: string[]) => execFileSync(promtool, args, { cwd: `${ROOT}infra/prometheus`, encoding: 'utf8' });
    expect(run(['check', 'rules', 'alerts.yml'])).toMatch(/SUCCESS: 8 rules found/);
    expect(run(['test', 'rules', 'alerts.test.yml'])).toMatch(/SUCCESS/);
  });
});
