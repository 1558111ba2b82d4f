import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { JsonRequest, JsonResponse } from '../shared/admin-server.ts';
import type { Logger } from '../shared/logger.ts';
import { GlobalTable } from '../shared/stream/global-table.ts';
import { decodeAggregate, type CampaignAggregate } from './campaign-aggregate.ts';
import { campaignReports, type CampaignReport, type ReportOptions } from './campaign-report.ts';

const ROUTE = /^\/campaigns\/([^/]+)\/report$/;

/**
 * Every partition's partial campaign aggregates, read whole from the compacted aggregates topic
 * (a global table), merged into a campaign's report on request: by the report command and by the
 * outcomes service's admin route `GET /campaigns/<id>/report`.
 */
export class CampaignReports {
  readonly #table: GlobalTable<CampaignAggregate>;
  readonly #options: ReportOptions;

  constructor(options: { topic: string; kafka: Kafka; logger: Logger; registry: Registry; report: ReportOptions }) {
    this.#options = options.report;
    this.#table = new GlobalTable({ name: 'campaign-aggregates', topic: options.topic, topicVariable: 'STO_TOPIC_CAMPAIGN_AGGREGATES', kafka: options.kafka, logger: options.logger, registry: options.registry, decode: (_key, value) => decodeAggregate(value) });
  }

  start(timeoutMs?: number): Promise<void> {
    return this.#table.start(timeoutMs);
  }

  stop(): Promise<void> {
    return this.#table.stop();
  }

  /** One report per channel the campaign sent on (empty when no send of it has closed). */
  reports(campaignId: string): CampaignReport[] {
    return campaignReports([...this.#table.entries()].map(([, partial]) => partial), campaignId, this.#options);
  }

  /** The admin server's route for `/campaigns/`. */
  readonly handle = async (request: JsonRequest): Promise<JsonResponse> => {
    const match = ROUTE.exec(request.path);
    if (!match) return { status: 404, body: { error: 'no such route: GET /campaigns/<id>/report' } };
    let campaignId: string;
    try {
      campaignId = decodeURIComponent(match[1]!);
    } catch {
      return { status: 400, body: { error: 'the campaign id is not valid percent-encoding' } };
    }
    if (!this.#table.loaded) return { status: 503, headers: { 'retry-after': '1' }, body: { error: 'unavailable', reason: 'the campaign aggregates are still loading' } };
    const reports = this.reports(campaignId);
    if (reports.length === 0) return { status: 404, body: { error: `no closed send of campaign ${campaignId} yet` } };
    return { status: 200, body: { campaignId, channels: reports } };
  };
}
