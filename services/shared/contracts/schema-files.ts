import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';

/**
 * The project's record contracts: schema file and the record's full name. A contract that evolved
 * keeps the files of its earlier versions in `previous` (oldest first): producers still writing
 * them must keep working, and tests register them before the current one.
 */
export const CONTRACTS = {
  engagement: { file: 'engagement-event.v2.avsc', fullName: 'io.sto.v1.EngagementEvent', previous: ['engagement-event.v1.avsc'] },
  trigger: { file: 'send-trigger.v2.avsc', fullName: 'io.sto.v1.SendTrigger', previous: ['send-trigger.v1.avsc'] },
  scheduled: { file: 'scheduled-send.v2.avsc', fullName: 'io.sto.v1.ScheduledSend', previous: ['scheduled-send.v1.avsc'] },
  ready: { file: 'ready-send.v1.avsc', fullName: 'io.sto.v1.ReadySend' },
  erasure: { file: 'erasure-request.v1.avsc', fullName: 'io.sto.v1.ErasureRequest' },
  deadLetter: { file: 'dead-letter.v1.avsc', fullName: 'io.sto.v1.DeadLetter' },
  campaignSettings: { file: 'campaign-settings.v1.avsc', fullName: 'io.sto.v1.CampaignSettings' },
  unreleased: { file: 'unreleased-send.v2.avsc', fullName: 'io.sto.v1.UnreleasedSend', previous: ['unreleased-send.v1.avsc'] },
  campaignStop: { file: 'campaign-stop.v1.avsc', fullName: 'io.sto.v1.CampaignStop' },
  outcome: { file: 'send-outcome.v1.avsc', fullName: 'io.sto.v1.SendOutcome' },
} as const;
export type ContractName = keyof typeof CONTRACTS;

const SCHEMA_DIR = fileURLToPath(new URL('../../../schemas/', import.meta.url));

export function readSchemaJson(contract: ContractName): avro.Schema {
  return JSON.parse(readFileSync(SCHEMA_DIR + CONTRACTS[contract].file, 'utf8')) as avro.Schema;
}

/** The schemas of a contract's earlier versions, oldest first (empty when it never evolved). */
export function previousSchemaJsons(contract: ContractName): avro.Schema[] {
  const entry = CONTRACTS[contract] as { previous?: readonly string[] };
  return (entry.previous ?? []).map((file) => JSON.parse(readFileSync(SCHEMA_DIR + file, 'utf8')) as avro.Schema);
}

export function readerType(contract: ContractName): avro.Type {
  return avro.Type.forSchema(readSchemaJson(contract));
}

/** Confluent TopicNameStrategy: `<topic>-value`. */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}
