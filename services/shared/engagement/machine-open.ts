import type { EnvReader } from '../config/env-reader.ts';

/** How an OPEN is recognised as made by a machine (proxy prefetch, security scanner) rather than a person. */
export interface MachineOpenRule {
  /** An OPEN this soon after its delivery is treated as a machine open (proxy prefetch). */
  machineOpenSeconds: number;
  machineOpenUserAgent: RegExp;
}

const DEFAULT_USER_AGENTS = 'AppleMailPrivacy|Apple-Mail-Proxy|GoogleImageProxy-Prefetch|YahooMailProxy|Barracuda|Mimecast|Proofpoint|bot\\b|crawler|prefetch';

/**
 * The rule's settings, read from the same variables by every service that tells machine opens
 * apart (the engine's counters, the outcomes stage's first open), so the two never disagree.
 */
export function readMachineOpenRule(reader: EnvReader): MachineOpenRule {
  const userAgentPattern = reader.string('STO_ENGINE_MACHINE_OPEN_USER_AGENT', DEFAULT_USER_AGENTS);
  let machineOpenUserAgent = /$^/;
  try {
    machineOpenUserAgent = new RegExp(userAgentPattern, 'i');
  } catch (error) {
    reader.problem('STO_ENGINE_MACHINE_OPEN_USER_AGENT', `is not a valid regular expression (${(error as Error).message})`);
  }
  return { machineOpenSeconds: reader.number('STO_ENGINE_MACHINE_OPEN_SECONDS', 10, 0, 3_600), machineOpenUserAgent };
}

/**
 * Apple Mail Privacy Protection and proxies open mail on delivery, without a person: the sender's
 * own verdict wins, then a known proxy user agent, then an open within seconds of delivery.
 */
export function isMachineOpen(
  event: { machineOpen: boolean | null; userAgent: string | null; deliveredAt: number | null; occurredAt: number },
  rule: MachineOpenRule,
): boolean {
  if (event.machineOpen === true) return true;
  if (event.machineOpen === false) return false;
  if (event.userAgent && rule.machineOpenUserAgent.test(event.userAgent)) return true;
  return event.deliveredAt !== null && event.occurredAt - event.deliveredAt >= 0 && event.occurredAt - event.deliveredAt <= rule.machineOpenSeconds * 1_000;
}
