import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { scheduledStepOf } from '../../../services/engine/engine-handler.ts';
import { SendTimeDecider, warmUpDecisions } from '../../../services/engine/send-time-decider.ts';
import { DEFAULT_MODEL_PARAMS } from '../../../services/model/score.ts';
import { readSchemaJson } from '../../../services/shared/contracts/schema-files.ts';

describe('decision warm-up at start-up', () => {
  it('decides every synthetic trigger it makes (a trigger the decider refused would warm nothing)', () => {
    const config = compileEngineConfig({});
    const params = { ...DEFAULT_MODEL_PARAMS, halfLifeDays: config.halfLifeDays };
    expect(warmUpDecisions(new SendTimeDecider(config, params), params, Date.UTC(2026, 2, 29, 0, 30), 70)).toBe(70);
  });

  it('decides them under a configuration that narrows what a trigger may be', () => {
    const config = compileEngineConfig({ STO_DEFAULT_TIME_ZONE: 'Asia/Kathmandu', STO_ENGINE_PRIOR_MIN_RECIPIENTS: '1000000' });
    const params = { ...DEFAULT_MODEL_PARAMS, halfLifeDays: config.halfLifeDays };
    expect(warmUpDecisions(new SendTimeDecider(config, params), params, Date.UTC(2026, 9, 25, 1, 0), 35)).toBe(35);
  });

  it('hands each decision on, and the scheduled send built from it is a valid record (the engine encodes it at start-up)', () => {
    const config = compileEngineConfig({});
    const params = { ...DEFAULT_MODEL_PARAMS, halfLifeDays: config.halfLifeDays };
    const type = avro.Type.forSchema(readSchemaJson('scheduled') as avro.Schema);
    const invalid: string[] = [];
    let handed = 0;
    warmUpDecisions(new SendTimeDecider(config, params), params, Date.UTC(2026, 5, 1, 12, 0), 40, (trigger, decision, planned, settings) => {
      handed++;
      const scheduled = scheduledStepOf(trigger, decision, planned, settings, planned.trigger.channel);
      type.isValid(scheduled, { errorHook: (path) => invalid.push(`${trigger.triggerId}: ${path.join('.')}`) });
    });
    expect(handed).toBe(40);
    expect(invalid).toEqual([]);
  });
});
