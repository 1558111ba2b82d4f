import { describe, expect, it } from 'vitest';
import { parseSettingsFile } from '../../../services/bootstrap/settings-file.ts';

const CART_RECOVERY = `
campaigns:
  - campaignId: cart-recovery
    quietHours: { startMinute: 1260, endMinute: 480 }   # 21:00-08:00 local
    defaultLocalMinute: 600
    objective: CONVERSION
    urgency: { urgentChannels: [SMS, PUSH], quietHoursApply: true }
    caps: { perDay: 2 }
    stopOn:
      - { eventType: CONVERSION, sameCorrelation: true }
      - { eventType: UNSUBSCRIBE }
    steps:
      - { startHours: 0, endHours: 1, immediate: true }
      - { startHours: 20, endHours: 28 }
      - { startHours: 44, endHours: 52 }
  - campaignId: newsletter
    windowHours: 48
    optimize: false
    defaultLocalMinute: 540
`;

describe('settings files', () => {
  it('reads a YAML file of several campaigns, filling what a campaign leaves unset', () => {
    const result = parseSettingsFile(CART_RECOVERY, 'campaigns.yaml');
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.campaigns.map((campaign) => campaign.campaignId)).toEqual(['cart-recovery', 'newsletter']);
    const [cart, newsletter] = result.campaigns;
    expect(cart).toMatchObject({
      windowHours: null,
      quietHours: { startMinute: 1260, endMinute: 480 },
      urgency: { urgentChannels: ['SMS', 'PUSH'], transactionalChannels: null, quietHoursApply: true },
      caps: { perDay: 2, perWeek: null },
      stopOn: [
        { eventType: 'CONVERSION', sameCorrelation: true, sameCampaign: false },
        { eventType: 'UNSUBSCRIBE', sameCorrelation: false, sameCampaign: false },
      ],
      steps: [
        { startHours: 0, endHours: 1, immediate: true },
        { startHours: 20, endHours: 28, immediate: false },
        { startHours: 44, endHours: 52, immediate: false },
      ],
    });
    expect(newsletter).toMatchObject({ windowHours: 48, optimize: false, defaultLocalMinute: 540, steps: [], stopOn: null, caps: null });
  });

  it('reads JSON, a bare list, or one campaign', () => {
    const json = parseSettingsFile('{"campaigns":[{"campaignId":"a","windowHours":12}]}', 'settings.json');
    expect(json.ok && json.campaigns[0]!.windowHours).toBe(12);
    const list = parseSettingsFile('- campaignId: a\n- campaignId: b\n', 'settings.yml');
    expect(list.ok && list.campaigns.length).toBe(2);
    const one = parseSettingsFile('campaignId: solo\nholdoutShare: 0.1\n', 'solo.yaml');
    expect(one.ok && one.campaigns[0]!.holdoutShare).toBe(0.1);
  });

  it('refuses the whole file with every problem, each naming the field path and the campaign', () => {
    const bad = `${CART_RECOVERY}
  - campaignId: promo
    quietHours: { startMinute: 1500, endMinute: 480 }
    steps:
      - { startHours: 20, endHours: 10 }
    colour: red
  - campaignId: newsletter
`;
    const result = parseSettingsFile(bad, 'campaigns.yaml');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([
      'campaigns[2].colour: is not a setting (one of campaignId, windowHours, quietHours, quietHoursPolicy, defaultLocalMinute, objective, holdoutShare, optimize, urgency, expiryGraceMinutes, caps, stopOn, steps, updatedAt) (campaign "promo")',
      'campaigns[2].quietHours.startMinute: 1500 is not a minute of day (0..1439) (campaign "promo")',
      'campaigns[2].steps[0].endHours: 10 makes a window of -10 h after startHours 20; a step\'s window is 1..168 h long (campaign "promo")',
      'campaigns[3].campaignId: "newsletter" is already set by campaigns[1]; a file states each campaign once',
    ]);
  });

  it('names the file and line of a syntax error, and refuses a file of no campaign', () => {
    const yaml = parseSettingsFile('campaigns:\n  - campaignId: a\n   windowHours: 3\n', 'broken.yaml');
    expect(!yaml.ok && yaml.problems[0]).toMatch(/^broken\.yaml: not valid YAML: .*line 3/s);
    const json = parseSettingsFile('{"campaigns": [}', 'broken.json');
    expect(!json.ok && json.problems[0]).toMatch(/^broken\.json: not valid JSON/);
    expect(parseSettingsFile('campaigns: []\n', 'empty.yaml')).toEqual({ ok: false, problems: ['empty.yaml: names no campaign'] });
    expect(parseSettingsFile('windowHours: 3\n', 'odd.yaml').ok).toBe(false);
  });
});
