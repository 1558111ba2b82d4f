import type { Kafka } from 'kafkajs';
import type { CampaignStop } from '../shared/contracts/record-types.ts';
import type { SchemaCodec } from '../shared/contracts/schema-codec.ts';
import { valueSubject } from '../shared/contracts/schema-files.ts';
import { ConfigError } from '../shared/errors.ts';

export interface StopCampaignCommand {
  campaignId: string;
  /** Lift the stop (a tombstone) instead of stopping. */
  resume: boolean;
  stoppedBy: string;
  reason: string;
}

/** Parses `--campaign <id> [--reason <text>] [--by <name>] [--resume]`; a bad argument names itself. */
export function parseStopCampaignArgs(argv: readonly string[]): StopCampaignCommand {
  const command: StopCampaignCommand = { campaignId: '', resume: false, stoppedBy: '', reason: '' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(arg, 'needs a value');
      return next;
    };
    if (arg === '--campaign') command.campaignId = value();
    else if (arg === '--reason') command.reason = value();
    else if (arg === '--by') command.stoppedBy = value();
    else if (arg === '--resume') command.resume = true;
    else throw new ConfigError(arg, 'unknown argument (allowed: --campaign <id>, --reason <text>, --by <name>, --resume)');
  }
  if (command.campaignId.trim() === '') throw new ConfigError('--campaign', 'the campaign id is required');
  return command;
}

/**
 * Publishes one command record: a campaign stop keyed by the campaign id on the compacted campaign
 * stops topic, or its tombstone to resume the campaign. Every delay instance reads the topic whole.
 */
export async function publishCampaignStop(options: { kafka: Kafka; codec: SchemaCodec; topic: string; command: StopCampaignCommand; now: number }): Promise<CampaignStop | null> {
  const { kafka, codec, topic, command, now } = options;
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    if (command.resume) {
      await producer.send({ topic, acks: -1, messages: [{ key: command.campaignId, value: null }] });
      return null;
    }
    const stop: CampaignStop = { campaignId: command.campaignId, stoppedAt: now, stoppedBy: command.stoppedBy, reason: command.reason };
    const writer = await codec.writer('campaignStop', valueSubject(topic));
    await producer.send({ topic, acks: -1, messages: [{ key: command.campaignId, value: codec.encode(writer, stop) }] });
    return stop;
  } finally {
    await producer.disconnect();
  }
}
