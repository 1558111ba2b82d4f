import type {
  CampaignSettings,
  Channel,
  FrequencyCaps,
  Objective,
  QuietHours,
  QuietHoursPolicy,
  SequenceStep,
  SettingsSource,
  StopRule,
  TriggerKind,
  Urgency,
} from '../shared/contracts/record-types.ts';
import { UNKNOWN_SYMBOL } from '../shared/contracts/record-types.ts';
import type { Bypass, DecisionTrigger } from './decision-types.ts';

// Which value of each setting a send uses, and where it came from: the trigger's own field wins,
// then the campaign's settings, then the deployment's configuration. Pure.

/** The settings a decision reports the source of (keys of ScheduledSend.settingsSources). */
export const SETTING_NAMES = [
  'windowHours',
  'quietHours',
  'quietHoursPolicy',
  'defaultLocalMinute',
  'objective',
  'holdoutShare',
  'optimize',
  'urgency.urgentChannels',
  'urgency.transactionalChannels',
  'urgency.quietHoursApply',
  'expiryGraceMinutes',
  'caps',
  'stopOn',
  'steps',
] as const;
export type SettingName = (typeof SETTING_NAMES)[number];

/** The deployment's value of every setting (the engine's configuration). */
export interface DeploymentSettings {
  windowHours: number;
  quietHours: QuietHours | null;
  quietHoursPolicy: QuietHoursPolicy;
  defaultLocalMinute: number | null;
  objective: Objective;
  holdoutShare: number;
  optimize: boolean;
  urgentChannels: readonly Channel[];
  transactionalChannels: readonly Channel[];
  quietHoursApply: boolean;
  expiryGraceMinutes: number;
  caps: FrequencyCaps | null;
  stopOn: readonly StopRule[];
  steps: readonly SequenceStep[];
}

/** The settings a trigger may state itself (null: not stated). */
export interface TriggerSettings {
  windowHours: number | null;
  quietHours: QuietHours | null;
  quietHoursPolicy: QuietHoursPolicy | null;
  defaultLocalMinute: number | null;
  objective: Objective | null;
  holdoutShare: number | null;
}

/** The value each setting takes for one send, and where it came from. */
export interface ResolvedSettings extends Omit<DeploymentSettings, 'stopOn'> {
  stopOn: StopRule[];
  sources: Record<SettingName, SettingsSource>;
}

/** Trigger over campaign over deployment, field by field, with the source of each. */
export function resolveSettings(trigger: TriggerSettings, campaign: CampaignSettings | null, deployment: Readonly<DeploymentSettings>): ResolvedSettings {
  const sources = {} as Record<SettingName, SettingsSource>;
  const pick = <T>(name: SettingName, fromTrigger: T | null, fromCampaign: T | null | undefined, fromDeployment: T): T => {
    if (fromTrigger !== null) {
      sources[name] = 'TRIGGER';
      return fromTrigger;
    }
    if (fromCampaign != null) {
      sources[name] = 'CAMPAIGN';
      return fromCampaign;
    }
    sources[name] = 'DEPLOYMENT';
    return fromDeployment;
  };
  const urgency = campaign?.urgency ?? null;
  const steps = campaign !== null && campaign.steps.length > 0 ? campaign.steps : null;
  return {
    windowHours: pick('windowHours', trigger.windowHours, campaign?.windowHours, deployment.windowHours),
    quietHours: pick('quietHours', trigger.quietHours, campaign?.quietHours, deployment.quietHours),
    quietHoursPolicy: pick('quietHoursPolicy', trigger.quietHoursPolicy, known(campaign?.quietHoursPolicy), deployment.quietHoursPolicy),
    defaultLocalMinute: pick('defaultLocalMinute', trigger.defaultLocalMinute, campaign?.defaultLocalMinute, deployment.defaultLocalMinute),
    objective: pick('objective', trigger.objective, known(campaign?.objective), deployment.objective),
    holdoutShare: pick('holdoutShare', trigger.holdoutShare, campaign?.holdoutShare, deployment.holdoutShare),
    optimize: pick('optimize', null, campaign?.optimize, deployment.optimize),
    urgentChannels: pick('urgency.urgentChannels', null, knownChannels(urgency?.urgentChannels), deployment.urgentChannels),
    transactionalChannels: pick('urgency.transactionalChannels', null, knownChannels(urgency?.transactionalChannels), deployment.transactionalChannels),
    quietHoursApply: pick('urgency.quietHoursApply', null, urgency?.quietHoursApply, deployment.quietHoursApply),
    expiryGraceMinutes: pick('expiryGraceMinutes', null, campaign?.expiryGraceMinutes, deployment.expiryGraceMinutes),
    caps: pick('caps', null, campaign?.caps, deployment.caps),
    // A stop rule of a type this engine does not know stops nothing: it is left out.
    stopOn: pick('stopOn', null, campaign?.stopOn, deployment.stopOn).filter((rule) => rule.eventType !== UNKNOWN_SYMBOL),
    steps: pick('steps', null, steps, deployment.steps),
    sources,
  };
}

/** Whether the trigger skips the wait under the resolved urgency policy, and whether quiet hours still hold it. */
export function bypassOf(trigger: { channel: Channel; urgency: Urgency; triggerKind: TriggerKind }, settings: ResolvedSettings): Bypass {
  const urgent = trigger.urgency === 'URGENT' && settings.urgentChannels.includes(trigger.channel);
  const transactional = trigger.triggerKind === 'TRANSACTIONAL' && settings.transactionalChannels.includes(trigger.channel);
  if (!urgent && !transactional) return 'NONE';
  return settings.quietHoursApply ? 'RESPECT_QUIET_HOURS' : 'IGNORE_QUIET_HOURS';
}

/** One send of a plan: what the decision is asked, and where its settings came from. */
export interface PlannedSend {
  trigger: DecisionTrigger;
  /** 1..n for a sequence's steps, 1 for a single send (ScheduledSend.step). */
  step: number;
  sources: Record<SettingName, SettingsSource>;
}

/**
 * The sends a trigger leads to: one, or one per step of the campaign's sequence. A step has its
 * own window (hours after the trigger) and step number (its own schedule id); an immediate step,
 * or a step opening at the trigger when the trigger may bypass, goes at its window's start within
 * the allowed hours. A trigger's explicit sendAt is the first step's instant; the later steps keep
 * their windows. A single send keeps step 0 in the decision, so its schedule id is the one a
 * campaign without steps always had.
 */
export function planSends(base: Omit<DecisionTrigger, 'windowHours' | 'quietHours' | 'quietHoursPolicy' | 'defaultLocalMinute' | 'objective' | 'holdoutShare'>, settings: ResolvedSettings): PlannedSend[] {
  const resolved: DecisionTrigger = {
    ...base,
    windowHours: settings.windowHours,
    quietHours: settings.quietHours,
    quietHoursPolicy: settings.quietHoursPolicy,
    defaultLocalMinute: settings.defaultLocalMinute,
    objective: settings.objective,
    holdoutShare: settings.holdoutShare,
    optimize: settings.optimize,
  };
  const bypass = bypassOf(base, settings);
  if (settings.steps.length === 0) return [{ trigger: { ...resolved, bypass, step: 0 }, step: 1, sources: settings.sources }];
  return settings.steps.map((step, index) => {
    const stepBypass: Bypass = step.immediate || step.startHours === 0 ? (bypass === 'NONE' ? (step.immediate ? 'RESPECT_QUIET_HOURS' : 'NONE') : bypass) : 'NONE';
    return {
      trigger: {
        ...resolved,
        windowStartHours: step.startHours,
        windowHours: step.endHours - step.startHours,
        sendAtMs: index === 0 ? resolved.sendAtMs : null,
        bypass: stepBypass,
        step: index + 1,
      },
      step: index + 1,
      // The steps' windows are the campaign's, whatever window the trigger or deployment names.
      sources: { ...settings.sources, windowHours: 'CAMPAIGN' },
    };
  });
}

function known<T extends string>(value: T | typeof UNKNOWN_SYMBOL | null | undefined): T | null {
  return value == null || value === UNKNOWN_SYMBOL ? null : (value as T);
}

function knownChannels(channels: readonly (Channel | typeof UNKNOWN_SYMBOL)[] | null | undefined): Channel[] | null {
  return channels == null ? null : channels.filter((channel): channel is Channel => channel !== UNKNOWN_SYMBOL);
}
