import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { generateHistory } from '../../../services/simulator/history.ts';
import { createPopulation } from '../../../services/simulator/population.ts';
import { engineEnv, produceRecords } from '../support/engine-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';

const CHROMIUM = '/usr/bin/chromium';
/** Screenshots land here (git-ignored), for a person or CI to look at. */
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/query-page/', import.meta.url));
const TOKEN = 'page-test-token-0123456789abcdef';
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Debian's Chromium, installed by the test when missing (the machine may be fresh). */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const install = spawnSync('bash', ['-c', 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium'], { stdio: 'inherit', timeout: 600_000 });
  if (install.status !== 0 || !existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM} and 'apt-get install -y chromium' failed (exit ${install.status}): install it as root`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('operator page in a real browser', () => {
  const common = stackConfig();
  const logger = createLogger('query-page-test', 'error');
  const kafka = createKafka(common.kafka, logger);
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const cleanups: (() => Promise<unknown>)[] = [];

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('looks up a demo recipient (heatmap, best times) and previews a decision (chosen slot, runners-up, binding constraint)', async () => {
    ensureChromium();
    await mkdir(ARTIFACTS, { recursive: true });
    const topics = uniqueTopics('page');
    await createTestTopics(topics, 2);
    const now = Date.now();
    // The demo's simulated population and its history of sends and engagement.
    const population = createPopulation({ size: 60, seed: 'page', startMs: now });
    const history = generateHistory(population, { seed: 'page', endMs: now, weeks: 8 });
    const humanEvents = new Map<string, number>();
    for (const event of history) if (event.eventType === 'OPEN' || event.eventType === 'CLICK') humanEvents.set(event.recipientId, (humanEvents.get(event.recipientId) ?? 0) + 1);
    const [recipientId] = [...humanEvents].sort((a, b) => b[1] - a[1])[0]!;

    const dir = await temporaryDir('query-page');
    cleanups.push(dir.remove);
    const port = await freePort();
    const env: Record<string, string> = { ...topicEnv(topics), ...engineEnv(topics, dir.path), STO_INSTANCE_ID: 'engine-page', STO_ADMIN_TOKEN: TOKEN };
    const engine = new ChildService({ name: 'engine-page', entry: ChildService.entry('engine'), env, adminPort: port, logPath: `${dir.path}.log` });
    cleanups.push(() => engine.stop());
    engine.start();
    await engine.waitReady(120_000);
    await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: history, key: (event) => event.recipientId });
    const api = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    // Everything consumed: the engine's group offsets reached the end of the engagement topic.
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    const consumedAll = async () => {
      const high = await admin.fetchTopicOffsets(topics.engagement);
      const [committed] = await admin.fetchOffsets({ groupId: env.STO_ENGINE_GROUP_ID!, topics: [topics.engagement] });
      return high.every((mark) => Number(committed?.partitions.find((p) => p.partition === mark.partition)?.offset ?? -1) >= Number(mark.high));
    };
    const deadline = Date.now() + 90_000;
    while (!(await consumedAll())) {
      if (Date.now() > deadline) throw new Error('the engine did not consume the demo history within 90 s');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const profile = await api(`/recipients/${encodeURIComponent(recipientId)}/profile`);
    expect(profile.status).toBe(200);
    const recipientEvents = (profile.body.history as { events: number }).events;
    expect(recipientEvents).toBeGreaterThan(20);

    const userDataDir = await temporaryDir('query-page-chromium');
    cleanups.push(userDataDir.remove);
    const browser: BrowserContext = await chromium.launchPersistentContext(userDataDir.path, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1200, height: 1100 } });
    cleanups.push(() => browser.close());
    const page = browser.pages()[0] ?? (await browser.newPage());
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`http://127.0.0.1:${port}/`);
    expect(await page.title()).toContain('kafka-sto');

    // Without the token the API refuses, and the page says so.
    await page.fill('#recipient-id', recipientId);
    await page.click('#lookup');
    await expect.poll(() => page.textContent('#error'), { timeout: 15_000 }).toContain('401');

    await page.fill('#token', TOKEN);
    const [profileResponse] = await Promise.all([page.waitForResponse((candidate) => candidate.url().includes('/profile')), page.click('#lookup')]);
    expect(profileResponse.status()).toBe(200);
    // What the page was given (decayed to the instant it asked): what it must show.
    const shown = (await profileResponse.json()) as Record<string, unknown>;
    await page.waitForSelector('#heatmap-table', { timeout: 15_000 });
    expect(await page.textContent('#error')).toBe('');
    expect(await page.textContent('#found')).toBe('yes');
    expect(await page.textContent('#answered-by')).toContain('engine-page');
    expect(await page.textContent('#history')).toContain(`${recipientEvents} events`);
    // The heatmap shows the API's counts of the selected channel and signal, 7 rows of 24.
    const channel = await page.inputValue('#heatmap-channel');
    const signal = await page.inputValue('#heatmap-signal');
    expect(signal).toBe('HUMAN_OPEN');
    const cells = await page.$$eval('#heatmap-table td', (tds) => tds.map((td) => Number(td.getAttribute('data-value'))));
    const heatmaps = shown.heatmaps as Record<string, Record<string, number[][]>>;
    expect(cells).toEqual(heatmaps[channel]![signal]!.flat());
    expect(cells.filter((value) => value > 0).length).toBeGreaterThan(3);
    const best = (shown.scores as Record<string, Record<string, { bestWeekday: { weekday: string }; bestHourOfBestWeekday: { hour: number } }>>)[channel]!.OPEN!;
    expect(await page.textContent('#best-weekday')).toBe(best.bestWeekday.weekday);
    expect(await page.textContent('#best-hour')).toContain(`${best.bestHourOfBestWeekday.hour}:00`);
    expect(await page.$$eval('#heatmap-table td.best', (tds) => tds.length)).toBe(1);
    await page.screenshot({ path: `${ARTIFACTS}profile.png`, fullPage: true });

    // Preview with chosen settings: the page shows the API's decision.
    await page.fill('#preview-form input[name=windowHours]', '48');
    await page.fill('#preview-form input[name=quietHours]', '21:00-08:00');
    await page.fill('#preview-form input[name=triggerId]', 'page-trigger-1');
    const [response] = await Promise.all([page.waitForResponse((candidate) => candidate.url().includes('/preview?')), page.click('#preview')]);
    const preview = (await response.json()) as { outcome: string; decision: { localSendTime: string; reason: string; bindingConstraint: string; topSlots: { localTime: string; score: number }[] } };
    expect(response.status()).toBe(200);
    expect(response.url()).toContain('windowHours=48');
    expect(response.url()).toContain('quietHours=21%3A00-08%3A00');
    await page.waitForSelector('#preview-result:not([hidden])');
    expect(await page.textContent('#chosen-slot')).toBe(`Sends at ${preview.decision.localSendTime} (${preview.decision.reason})`);
    expect(await page.textContent('#binding-constraint')).toBe(preview.decision.bindingConstraint);
    const rows = await page.$$eval('#runners-up tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(rows.length).toBeGreaterThan(1);
    expect(rows).toEqual(preview.decision.topSlots.map((slot, index) => [index === 0 ? 'best' : String(index + 1), slot.localTime, slot.score.toFixed(4)]));
    // No runner-up falls in the quiet hours asked for (local 21:00-08:00).
    for (const slot of preview.decision.topSlots) {
      const hour = Number(slot.localTime.slice(11, 13));
      expect(hour >= 8 && hour < 21, slot.localTime).toBe(true);
    }
    expect(await page.$$eval('#explanation li', (lis) => lis.length)).toBeGreaterThan(2);
    await page.screenshot({ path: `${ARTIFACTS}preview.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 300_000);
});
