import { describe, expect, it } from 'vitest';
import { decodeCampaignStop } from '../../../services/delay/campaign-stops.ts';
import { readerType } from '../../../services/shared/contracts/schema-files.ts';
import { parseStopCampaignArgs } from '../../../services/stop-campaign/stop-campaign.ts';

describe('npm run stop-campaign', () => {
  it('reads the campaign, the reason, the operator and --resume', () => {
    expect(parseStopCampaignArgs(['--campaign', 'cart-1', '--reason', 'wrong price', '--by', 'ops'])).toEqual({ campaignId: 'cart-1', resume: false, stoppedBy: 'ops', reason: 'wrong price' });
    expect(parseStopCampaignArgs(['--campaign', 'cart-1', '--resume'])).toMatchObject({ campaignId: 'cart-1', resume: true });
  });

  it('names the argument that is missing, empty or unknown', () => {
    expect(() => parseStopCampaignArgs([])).toThrow(/--campaign: the campaign id is required/);
    expect(() => parseStopCampaignArgs(['--campaign'])).toThrow(/--campaign: needs a value/);
    expect(() => parseStopCampaignArgs(['--campaign', '--resume'])).toThrow(/--campaign: needs a value/);
    expect(() => parseStopCampaignArgs(['--campaign', 'c', '--all'])).toThrow(/--all: unknown argument/);
  });

  it('the delay service decodes the record the command writes (wire format header, then the Avro body)', () => {
    const stop = { campaignId: 'cart-1', stoppedAt: 1_764_000_000_000, stoppedBy: 'ops', reason: '' };
    const body = readerType('campaignStop').toBuffer(stop);
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), body]);
    expect(decodeCampaignStop(framed)).toEqual(stop);
    expect(() => decodeCampaignStop(Buffer.from([1, 2]))).toThrow(/wire format/);
  });
});
