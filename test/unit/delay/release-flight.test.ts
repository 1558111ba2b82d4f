import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { compileDelayConfig } from '../../../services/delay/config.ts';
import { DelayHandler } from '../../../services/delay/delay-handler.ts';
import { DelayMetrics } from '../../../services/delay/delay-metrics.ts';
import { SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { readerType } from '../../../services/shared/contracts/schema-files.ts';
import { createLogger } from '../../../services/shared/logger.ts';

function handler(): DelayHandler {
  return new DelayHandler({
    config: compileDelayConfig({}),
    codec: new SchemaCodec({} as SchemaRegistry),
    readyWriter: { contract: 'ready', schemaId: 1, type: readerType('ready') },
    metrics: new DelayMetrics(new Registry()),
    logger: createLogger('release-flight-test', 'silent'),
    clock: () => Date.UTC(2026, 10, 23),
    timers: { setTimeout: () => null, clearTimeout: () => undefined },
  });
}

describe('release of due sends, one flight per partition', () => {
  it('turns wake-ups during a running release into one more pass, not one pass each', async () => {
    const delay = handler();
    const passes: number[] = [];
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    delay.attach({
      runExclusive: async (partition) => {
        passes.push(partition);
        if (passes.length === 1) await gate;
        return true;
      },
    });
    const first = delay.releaseDueSends(0);
    await Promise.all([delay.releaseDueSends(0), delay.releaseDueSends(0), delay.releaseDueSends(0)]);
    await delay.releaseDueSends(1); // another partition has its own flight
    expect(passes).toEqual([0, 1]);
    open();
    await first;
    expect(passes).toEqual([0, 1, 0]);
    await delay.releaseDueSends(0); // the flight has ended: a new wake-up is a new pass
    expect(passes).toEqual([0, 1, 0, 0]);
  });
});
