import type { CampaignSettings, Channel, FrequencyCaps, Objective, QuietHours, QuietHoursPolicy, SequenceStep, StopEventType, StopRule, UrgencyPolicy } from '../shared/contracts/record-types.ts';

// A campaign's settings as an operator writes them (a YAML or JSON object) and as the engine reads
// them back from the settings topic: every field is optional, absent or null meaning "not set by
// the campaign". One validator serves both, so what the publish command accepts is exactly what
// the engine applies, and every problem names its field path.

export type { CampaignSettings, SequenceStep, UrgencyPolicy };

const CHANNELS: readonly Channel[] = ['EMAIL', 'PUSH', 'SMS', 'IN_APP'];
const OBJECTIVES: readonly Objective[] = ['OPEN', 'CLICK', 'CONVERSION'];
const QUIET_HOURS_POLICIES: readonly QuietHoursPolicy[] = ['BEST_ALLOWED', 'DEFER_TO_END'];
const STOP_EVENT_TYPES: readonly StopEventType[] = ['CONVERSION', 'CLICK', 'OPEN', 'UNSUBSCRIBE', 'COMPLAINT', 'BOUNCE'];
const MAX_STEPS = 10;
/** A step's window may open up to two weeks after the trigger; each window is 1..168 h long. */
const MAX_STEP_START_HOURS = 336;
const MAX_ID_LENGTH = 256;

const FIELDS = [
  'campaignId',
  'windowHours',
  'quietHours',
  'quietHoursPolicy',
  'defaultLocalMinute',
  'objective',
  'holdoutShare',
  'optimize',
  'urgency',
  'expiryGraceMinutes',
  'caps',
  'stopOn',
  'steps',
  'updatedAt',
] as const;

export type SettingsValidation = { ok: true; settings: CampaignSettings } | { ok: false; problems: string[] };

/**
 * Checks one campaign's settings and returns them with every unset field null (steps empty).
 * `path` prefixes each problem (e.g. `campaigns[2]`), so a message reads
 * `campaigns[2].quietHours.startMinute: 1500 is not a minute of day (0..1439)`.
 */
export function validateCampaignSettings(raw: unknown, path: string): SettingsValidation {
  const problems: string[] = [];
  const at = (field: string) => (path === '' ? field : `${path}.${field}`);
  const problem = (field: string, message: string) => problems.push(`${at(field)}: ${message}`);
  if (!isObject(raw)) return { ok: false, problems: [`${path || 'settings'}: ${show(raw)} is not a campaign's settings (a map of fields)`] };
  for (const key of Object.keys(raw)) if (!(FIELDS as readonly string[]).includes(key)) problem(key, `is not a setting (one of ${FIELDS.join(', ')})`);

  const campaignId = raw.campaignId;
  if (typeof campaignId !== 'string' || campaignId.trim() === '' || campaignId.length > MAX_ID_LENGTH) {
    problem('campaignId', `${show(campaignId)} is not a campaign id (a non-empty string of at most ${MAX_ID_LENGTH} characters)`);
  }
  const settings: CampaignSettings = {
    campaignId: typeof campaignId === 'string' ? campaignId : '',
    windowHours: integerIn(raw.windowHours, 1, 168, 'hours', at('windowHours'), problems),
    quietHours: quietHoursOf(raw.quietHours, at('quietHours'), problems),
    quietHoursPolicy: oneOf(raw.quietHoursPolicy, QUIET_HOURS_POLICIES, at('quietHoursPolicy'), problems),
    defaultLocalMinute: minuteOfDay(raw.defaultLocalMinute, at('defaultLocalMinute'), problems),
    objective: oneOf(raw.objective, OBJECTIVES, at('objective'), problems),
    holdoutShare: shareOf(raw.holdoutShare, at('holdoutShare'), problems),
    optimize: booleanOf(raw.optimize, at('optimize'), problems),
    urgency: urgencyOf(raw.urgency, at('urgency'), problems),
    expiryGraceMinutes: integerIn(raw.expiryGraceMinutes, 0, 30 * 24 * 60, 'minutes', at('expiryGraceMinutes'), problems),
    caps: capsOf(raw.caps, at('caps'), problems),
    stopOn: stopRulesOf(raw.stopOn, at('stopOn'), problems),
    steps: stepsOf(raw.steps, at('steps'), problems) ?? [],
    updatedAt: integerIn(raw.updatedAt, 0, 8.64e15, 'epoch milliseconds', at('updatedAt'), problems),
  };
  return problems.length > 0 ? { ok: false, problems } : { ok: true, settings };
}

function quietHoursOf(value: unknown, path: string, problems: string[]): QuietHours | null {
  if (value == null) return null;
  if (!isObject(value)) return fail(problems, path, `${show(value)} is not a range {startMinute, endMinute}`);
  extraKeys(value, ['startMinute', 'endMinute'], path, problems);
  const startMinute = minuteOfDay(value.startMinute, `${path}.startMinute`, problems, true);
  const endMinute = minuteOfDay(value.endMinute, `${path}.endMinute`, problems, true);
  if (startMinute === null || endMinute === null) return null;
  if (startMinute === endMinute) return fail(problems, path, `start and end are both ${startMinute}: an empty range (leave quietHours out for none)`);
  return { startMinute, endMinute };
}

function urgencyOf(value: unknown, path: string, problems: string[]): UrgencyPolicy | null {
  if (value == null) return null;
  if (!isObject(value)) return fail(problems, path, `${show(value)} is not an urgency policy {urgentChannels, transactionalChannels, quietHoursApply}`);
  extraKeys(value, ['urgentChannels', 'transactionalChannels', 'quietHoursApply'], path, problems);
  return {
    urgentChannels: channelsOf(value.urgentChannels, `${path}.urgentChannels`, problems),
    transactionalChannels: channelsOf(value.transactionalChannels, `${path}.transactionalChannels`, problems),
    quietHoursApply: booleanOf(value.quietHoursApply, `${path}.quietHoursApply`, problems),
  };
}

function channelsOf(value: unknown, path: string, problems: string[]): Channel[] | null {
  if (value == null) return null;
  if (!Array.isArray(value)) return fail(problems, path, `${show(value)} is not a list of channels (${CHANNELS.join(', ')})`);
  const channels: Channel[] = [];
  value.forEach((item, index) => {
    const channel = oneOf(item, CHANNELS, `${path}[${index}]`, problems, true);
    if (channel !== null && !channels.includes(channel)) channels.push(channel);
  });
  return channels;
}

function capsOf(value: unknown, path: string, problems: string[]): FrequencyCaps | null {
  if (value == null) return null;
  if (!isObject(value)) return fail(problems, path, `${show(value)} is not caps {perDay, perWeek}`);
  extraKeys(value, ['perDay', 'perWeek'], path, problems);
  const caps = { perDay: integerIn(value.perDay, 1, 1_000, 'sends', `${path}.perDay`, problems), perWeek: integerIn(value.perWeek, 1, 7_000, 'sends', `${path}.perWeek`, problems) };
  return caps.perDay === null && caps.perWeek === null ? null : caps;
}

function stopRulesOf(value: unknown, path: string, problems: string[]): StopRule[] | null {
  if (value == null) return null;
  if (!Array.isArray(value)) return fail(problems, path, `${show(value)} is not a list of stop rules`);
  return value.flatMap((item, index) => {
    const at = `${path}[${index}]`;
    if (!isObject(item)) return fail(problems, at, `${show(item)} is not a stop rule {eventType, sameCorrelation, sameCampaign}`) ?? [];
    extraKeys(item, ['eventType', 'sameCorrelation', 'sameCampaign'], at, problems);
    const eventType = oneOf(item.eventType, STOP_EVENT_TYPES, `${at}.eventType`, problems, true);
    const rule = { sameCorrelation: booleanOf(item.sameCorrelation, `${at}.sameCorrelation`, problems) ?? false, sameCampaign: booleanOf(item.sameCampaign, `${at}.sameCampaign`, problems) ?? false };
    return eventType === null ? [] : [{ eventType, ...rule }];
  });
}

function stepsOf(value: unknown, path: string, problems: string[]): SequenceStep[] | null {
  if (value == null) return null;
  if (!Array.isArray(value)) return fail(problems, path, `${show(value)} is not a list of sequence steps`);
  if (value.length > MAX_STEPS) return fail(problems, path, `${value.length} steps, more than the ${MAX_STEPS} allowed`);
  return value.flatMap((item, index) => {
    const at = `${path}[${index}]`;
    if (!isObject(item)) return fail(problems, at, `${show(item)} is not a step {startHours, endHours, immediate}`) ?? [];
    extraKeys(item, ['startHours', 'endHours', 'immediate'], at, problems);
    const startHours = integerIn(item.startHours, 0, MAX_STEP_START_HOURS, 'hours after the trigger', `${at}.startHours`, problems, true);
    const endHours = integerIn(item.endHours, 1, MAX_STEP_START_HOURS + 168, 'hours after the trigger', `${at}.endHours`, problems, true);
    const immediate = booleanOf(item.immediate, `${at}.immediate`, problems) ?? false;
    if (startHours === null || endHours === null) return [];
    if (endHours - startHours < 1 || endHours - startHours > 168) {
      return fail(problems, `${at}.endHours`, `${endHours} makes a window of ${endHours - startHours} h after startHours ${startHours}; a step's window is 1..168 h long`) ?? [];
    }
    return [{ startHours, endHours, immediate }];
  });
}

function integerIn(value: unknown, min: number, max: number, unit: string, path: string, problems: string[], required = false): number | null {
  if (value == null) return required ? fail(problems, path, `is required (an integer ${min}..${max})`) : null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) return fail(problems, path, `${show(value)} is not an integer of ${unit} in ${min}..${max}`);
  return value;
}

function minuteOfDay(value: unknown, path: string, problems: string[], required = false): number | null {
  if (value == null) return required ? fail(problems, path, 'is required (a minute of day 0..1439)') : null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1439) return fail(problems, path, `${show(value)} is not a minute of day (0..1439)`);
  return value;
}

function shareOf(value: unknown, path: string, problems: string[]): number | null {
  if (value == null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) return fail(problems, path, `${show(value)} is not a share in 0..1`);
  return value;
}

function booleanOf(value: unknown, path: string, problems: string[]): boolean | null {
  if (value == null) return null;
  if (typeof value !== 'boolean') return fail(problems, path, `${show(value)} is not true or false`);
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], path: string, problems: string[], required = false): T | null {
  if (value == null) return required ? fail(problems, path, `is required (one of ${allowed.join(', ')})`) : null;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) return fail(problems, path, `${show(value)} is not one of ${allowed.join(', ')}`);
  return value as T;
}

function extraKeys(value: Record<string, unknown>, allowed: readonly string[], path: string, problems: string[]): void {
  for (const key of Object.keys(value)) if (!allowed.includes(key)) problems.push(`${path}.${key}: is not a field here (one of ${allowed.join(', ')})`);
}

function fail(problems: string[], path: string, message: string): null {
  problems.push(`${path}: ${message}`);
  return null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
