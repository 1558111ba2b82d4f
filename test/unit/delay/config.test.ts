import { describe, expect, it } from 'vitest';
import { compileDelayConfig } from '../../../services/delay/config.ts';

describe('delay service configuration', () => {
  it('defaults to a 10 s session timeout and a 120 s liveness stall', () => {
    const config = compileDelayConfig({});
    expect(config.common.kafka.sessionTimeoutMs).toBe(10_000);
    expect(config.common.livenessStallMs).toBe(120_000);
    expect(compileDelayConfig({ STO_KAFKA_SESSION_TIMEOUT_MS: '45000', STO_LIVENESS_STALL_MS: '60000' }).common).toMatchObject({ kafka: { sessionTimeoutMs: 45_000 }, livenessStallMs: 60_000 });
  });

  it('refuses a session timeout under the broker minimum, and a liveness stall that is not a bounded number, naming the variable', () => {
    expect(() => compileDelayConfig({ STO_KAFKA_SESSION_TIMEOUT_MS: '3000' })).toThrow(/STO_KAFKA_SESSION_TIMEOUT_MS/);
    expect(() => compileDelayConfig({ STO_LIVENESS_STALL_MS: 'soon' })).toThrow(/STO_LIVENESS_STALL_MS/);
    expect(() => compileDelayConfig({ STO_LIVENESS_STALL_MS: '1000' })).toThrow(/STO_LIVENESS_STALL_MS/);
  });
});
