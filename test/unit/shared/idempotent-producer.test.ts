import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readCommonConfig } from '../../../services/shared/config/common-config.ts';
import { EnvReader } from '../../../services/shared/config/env-reader.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';

// kafkajs warns "Limiting retries for the idempotent producer may invalidate EoS guarantees"
// when an idempotent producer gets finite retries (it does, from the client's retry settings).
// Ours retry until the request succeeds, so the warning is gone for a reason, not silenced.

function kafkaWithCapturedLogs(): { kafka: ReturnType<typeof createKafka>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const reader = new EnvReader({});
  const config = reader.done(readCommonConfig(reader, 'test', 0));
  return { kafka: createKafka(config.kafka, createLogger('test', 'debug', sink)), lines };
}

const WARNING = 'Limiting retries for the idempotent producer';

describe('idempotent producer', () => {
  it('retries without limit, so kafkajs has no EoS warning to give', () => {
    const { kafka, lines } = kafkaWithCapturedLogs();
    kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    expect(lines.join('')).not.toContain(WARNING);
  });

  it('keeps retries a caller sets, and kafkajs then warns (so the check above can fail)', () => {
    const { kafka, lines } = kafkaWithCapturedLogs();
    kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 3 } });
    expect(lines.join('')).toContain(WARNING);
  });

  it('leaves non-idempotent producers with the client retry settings', () => {
    const { kafka, lines } = kafkaWithCapturedLogs();
    kafka.producer();
    expect(lines.join('')).not.toContain(WARNING);
  });
});
