import { parseDocument } from 'yaml';
import { validateCampaignSettings, type CampaignSettings } from '../model/campaign-settings.ts';

// A settings file holds one campaign or many: `campaigns: [...]`, a bare list, or one campaign's
// map. It is YAML (JSON is read by its own parser, so its errors point where JSON's do). Every
// campaign is checked before anything is published: one bad field refuses the whole file.

export type SettingsFileResult = { ok: true; campaigns: CampaignSettings[] } | { ok: false; problems: string[] };

/** Parses and validates a settings file's text; `fileName` decides the parser (.json or YAML) and names the file in errors. */
export function parseSettingsFile(text: string, fileName: string): SettingsFileResult {
  let document: unknown;
  if (fileName.toLowerCase().endsWith('.json')) {
    try {
      document = JSON.parse(text);
    } catch (error) {
      return { ok: false, problems: [`${fileName}: not valid JSON: ${(error as Error).message}`] };
    }
  } else {
    const parsed = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    if (parsed.errors.length > 0) return { ok: false, problems: parsed.errors.map((error) => `${fileName}: not valid YAML: ${error.message}`) };
    document = parsed.toJS();
  }
  const { entries, prefix } = campaignsOf(document);
  if (entries === null) {
    return { ok: false, problems: [`${fileName}: expected a map with a list "campaigns", a list of campaigns, or one campaign's map with a campaignId`] };
  }
  if (entries.length === 0) return { ok: false, problems: [`${fileName}: names no campaign`] };
  const problems: string[] = [];
  const campaigns: CampaignSettings[] = [];
  const seen = new Map<string, number>();
  entries.forEach((entry, index) => {
    const path = prefix === null ? '' : `${prefix}[${index}]`;
    const result = validateCampaignSettings(entry, path);
    const id = isMap(entry) && typeof entry.campaignId === 'string' ? entry.campaignId : null;
    const which = id === null ? '' : ` (campaign ${JSON.stringify(id)})`;
    if (!result.ok) {
      problems.push(...result.problems.map((problem) => `${problem}${which}`));
      return;
    }
    const first = seen.get(result.settings.campaignId);
    if (first !== undefined) problems.push(`${path === '' ? '' : `${path}.`}campaignId: ${JSON.stringify(result.settings.campaignId)} is already set by ${prefix}[${first}]; a file states each campaign once`);
    else seen.set(result.settings.campaignId, index);
    campaigns.push(result.settings);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, campaigns };
}

function campaignsOf(document: unknown): { entries: unknown[] | null; prefix: string | null } {
  if (Array.isArray(document)) return { entries: document, prefix: 'campaigns' };
  if (!isMap(document)) return { entries: null, prefix: null };
  if ('campaigns' in document) {
    const extra = Object.keys(document).filter((key) => key !== 'campaigns');
    if (!Array.isArray(document.campaigns) || extra.length > 0) return { entries: null, prefix: null };
    return { entries: document.campaigns, prefix: 'campaigns' };
  }
  return 'campaignId' in document ? { entries: [document], prefix: null } : { entries: null, prefix: null };
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
