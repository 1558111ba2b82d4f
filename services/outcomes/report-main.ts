import { parseArgs } from 'node:util';
import { createKafka, assertBrokerReachable } from '../shared/kafka/kafka-client.ts';
import { exitOnStartupFailure } from '../shared/lifecycle.ts';
import { createLogger } from '../shared/logger.ts';
import { createMetricsRegistry } from '../shared/metrics-registry.ts';
import { CampaignReports } from './campaign-reports.ts';
import { renderReport } from './campaign-report.ts';
import { compileOutcomesConfig } from './config.ts';

/** `npm run report -- --campaign <id> [--json]`: the campaign's report from the aggregates topic, printed once. */
async function main(): Promise<number> {
  const { values } = parseArgs({ options: { campaign: { type: 'string' }, json: { type: 'boolean', default: false } }, strict: true });
  if (!values.campaign) {
    process.stderr.write('usage: npm run report -- --campaign <id> [--json]\n');
    return 2;
  }
  const config = compileOutcomesConfig(process.env);
  const logger = createLogger('report', process.env.STO_LOG_LEVEL ? config.common.logLevel : 'warn');
  await assertBrokerReachable(config.common.kafka, logger);
  const reports = new CampaignReports({ topic: config.common.topics.campaignAggregates, kafka: createKafka(config.common.kafka, logger), logger, registry: createMetricsRegistry('report'), report: config });
  try {
    await reports.start();
    const channels = reports.reports(values.campaign);
    if (values.json) process.stdout.write(`${JSON.stringify({ campaignId: values.campaign, channels }, null, 2)}\n`);
    else if (channels.length === 0) process.stdout.write(`No closed send of campaign ${values.campaign} yet.\n`);
    else process.stdout.write(`${channels.map(renderReport).join('\n\n')}\n`);
    return 0;
  } finally {
    await reports.stop();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  exitOnStartupFailure('report', error);
}
