import type { IncomingHttpHeaders } from 'node:http';
import type { JsonRequest, JsonResponse } from '../shared/admin-server.ts';
import { errorMessage } from '../shared/errors.ts';
import { partitionOfKey } from '../shared/kafka/key-partition.ts';
import type { Logger } from '../shared/logger.ts';
import type { RoutingTable } from '../shared/stream/group-routing.ts';
import type { PartitionRead } from '../shared/stream/partitioned-runner.ts';
import type { PartitionStore } from '../shared/stream/partition-store.ts';
import { atParameter, previewTrigger, QueryParameterError, type RecipientQuery } from './recipient-query.ts';

/** Set on a forwarded request: the receiver answers from its own state or says 503, never forwards again. */
export const FORWARDED_HEADER = 'x-sto-forwarded-by';
/** Seconds a client should wait before asking again while partitions move. */
export const RETRY_AFTER_SECONDS = 1;
const FORWARD_TIMEOUT_MS = 10_000;
const MAX_ID_LENGTH = 256;
const ROUTE = /^\/recipients\/([^/]+)\/(profile|preview)$/;

export interface QueryApiOptions {
  instanceId: string;
  adminUrl: string;
  query: RecipientQuery;
  /** Reads a partition this instance owns and has restored (the runner's readPartition). */
  readPartition: <T>(partition: number, read: (store: PartitionStore) => Promise<T>) => Promise<PartitionRead<T>>;
  /** Who owns which partition (null while the group rebalances). */
  routing: { partitionCount(): Promise<number | null>; table(): Promise<RoutingTable | null>; invalidate(): void };
  logger: Logger;
  clock?: () => number;
  fetch?: typeof fetch;
}

/**
 * The read-only query API: `GET /recipients/<id>/profile` and `GET /recipients/<id>/preview`.
 * Any instance answers for any recipient: the recipient's partition is the producer's (murmur2 of
 * the id); the owner answers from its store, any other instance forwards to the owner's advertised
 * admin address. While the partition is restoring or the group rebalances the answer is 503 with
 * Retry-After, never a profile from a store that is not (or no longer) the owner's. Nothing here
 * logs or counts a recipient id.
 */
export class QueryApi {
  readonly #options: QueryApiOptions;
  readonly #clock: () => number;
  readonly #fetch: typeof fetch;

  constructor(options: QueryApiOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#fetch = options.fetch ?? fetch;
  }

  /** The admin server's route for `/recipients/`. */
  readonly handle = async (request: JsonRequest): Promise<JsonResponse> => {
    const match = ROUTE.exec(request.path);
    if (!match) return { status: 404, body: { error: 'no such route: GET /recipients/<id>/profile or /recipients/<id>/preview' } };
    let recipientId: string;
    try {
      recipientId = decodeURIComponent(match[1]!);
    } catch {
      return { status: 400, body: { error: 'the recipient id is not valid percent-encoding' } };
    }
    if (recipientId.length === 0 || recipientId.length > MAX_ID_LENGTH) return { status: 400, body: { error: `a recipient id has 1..${MAX_ID_LENGTH} characters` } };
    const kind = match[2] as 'profile' | 'preview';
    const now = this.#clock();
    let read: (store: PartitionStore) => Promise<unknown>;
    try {
      if (kind === 'profile') {
        const at = atParameter(request.query, now);
        read = (store) => this.#options.query.profile(store, recipientId, at);
      } else {
        // Parsed (and its "now" fixed) before routing, so a bad parameter is a 400 on any instance.
        const trigger = previewTrigger(recipientId, request.query, now);
        read = (store) => this.#options.query.preview(store, trigger);
      }
    } catch (error) {
      if (error instanceof QueryParameterError) return { status: 400, body: { error: error.message } };
      throw error;
    }
    const forwardedBy = headerValue(request.headers, FORWARDED_HEADER);
    const partitionCount = await this.#options.routing.partitionCount();
    if (partitionCount === null) return unavailable('the partition count of the topics is not known yet');
    const partition = partitionOfKey(recipientId, partitionCount);
    let local: PartitionRead<unknown>;
    try {
      local = await this.#options.readPartition(partition, read);
    } catch (error) {
      if (error instanceof QueryParameterError) return { status: 400, body: { error: error.message } };
      return { status: 500, body: { error: `reading partition ${partition} failed: ${errorMessage(error)}` } };
    }
    if (local.ok) return { status: 200, body: { recipientId, ...this.#answeredBy(forwardedBy), ...(local.value as object) } };
    if (local.reason !== 'not-owned') return unavailable(`partition ${partition} is ${local.reason === 'restoring' ? 'restoring its state here' : 'moving (rebalance under way)'}`, partition);
    // A forwarded request is answered here or not at all: a stale table costs a 503, never a loop.
    if (forwardedBy !== null) return unavailable(`partition ${partition} is not owned by ${this.#options.instanceId} (ownership changed)`, partition);
    const table = await this.#options.routing.table();
    if (!table) return unavailable('the consumer group is rebalancing: partition owners are not known yet', partition);
    const owner = table.owners.get(partition);
    if (!owner?.adminUrl || owner.instanceId === this.#options.instanceId) {
      this.#options.routing.invalidate();
      return unavailable(`partition ${partition} has no owner that serves queries yet`, partition);
    }
    return this.#forward(owner.adminUrl, owner.instanceId, request, partition);
  };

  #answeredBy(forwardedBy: string | null): Record<string, unknown> {
    return { answeredBy: { instanceId: this.#options.instanceId, adminUrl: this.#options.adminUrl }, forwardedBy };
  }

  async #forward(adminUrl: string, ownerId: string, request: JsonRequest, partition: number): Promise<JsonResponse> {
    const url = new URL(request.path, adminUrl);
    url.search = request.query.toString();
    const headers: Record<string, string> = { [FORWARDED_HEADER]: this.#options.instanceId, accept: 'application/json' };
    const authorization = headerValue(request.headers, 'authorization');
    if (authorization) headers.authorization = authorization;
    try {
      const response = await this.#fetch(url, { headers, signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS) });
      const text = await response.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = { error: `the owner ${ownerId} answered ${response.status} without JSON` };
      }
      if (response.status === 503) this.#options.routing.invalidate();
      const retryAfter = response.headers.get('retry-after');
      return { status: response.status, body, headers: retryAfter ? { 'retry-after': retryAfter } : {} };
    } catch (error) {
      // The owner went away (a rebalance follows): ask the group again next time.
      this.#options.routing.invalidate();
      // Only the instance is named, never the request's path (it holds the recipient id).
      this.#options.logger.warn({ owner: ownerId, partition, reason: errorMessage(error) }, 'query forward to the partition owner failed');
      return unavailable(`the owner of partition ${partition} (${ownerId}) did not answer`, partition);
    }
  }
}

function unavailable(reason: string, partition?: number): JsonResponse {
  return { status: 503, headers: { 'retry-after': String(RETRY_AFTER_SECONDS) }, body: { error: 'unavailable', reason, ...(partition === undefined ? {} : { partition }), retryAfterSeconds: RETRY_AFTER_SECONDS } };
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? null;
}
