import { readCommonConfig } from '../shared/config/common-config.ts';
import { EnvReader } from '../shared/config/env-reader.ts';
import { createSchemaCodec } from '../shared/contracts/schema-codec.ts';
import { createKafka } from '../shared/kafka/kafka-client.ts';
import { exitOnStartupFailure } from '../shared/lifecycle.ts';
import { createLogger } from '../shared/logger.ts';
import { parseStopCampaignArgs, publishCampaignStop } from './stop-campaign.ts';

/** `npm run stop-campaign -- --campaign <id> [--reason <text>] [--by <name>] [--resume]` */
try {
  const command = parseStopCampaignArgs(process.argv.slice(2));
  const reader = new EnvReader(process.env);
  const common = reader.done(readCommonConfig(reader, 'stop-campaign', 0));
  const logger = createLogger('stop-campaign', common.logLevel);
  const stop = await publishCampaignStop({ kafka: createKafka(common.kafka, logger), codec: createSchemaCodec(common.registry), topic: common.topics.campaignStops, command, now: Date.now() });
  logger.info({ campaignId: command.campaignId, topic: common.topics.campaignStops, stop }, command.resume ? 'campaign stop lifted' : 'campaign stopped: its pending sends are recorded as STOPPED at their instants');
} catch (error) {
  exitOnStartupFailure('stop-campaign', error);
}
