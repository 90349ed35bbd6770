/**
 * What an accepted ingest batch does: edits first, one atomic batch per document, then each
 * topic's events in one call, topics in parallel. A refused edit leaves nothing of the request
 * published; an edit stored but not yet published is `publish_pending`, never "refused".
 * Results come back in request order.
 */
import * as v from "valibot";
import type { BatchError } from "../document/document-durable-object";
import type { Env } from "../env";
import { documentName, type ResourceRef } from "../protocol/equihome/editing";
import { isIssueCode, issueDetails, ProtocolError } from "../protocol/errors";
import type { IngestEvent } from "../protocol/ingest";
import { topicName } from "../protocol/topics";

export interface IngestResult {
  event: string;
  channel: string;
  key: string | null;
  seq: number;
  /** Present and true when the event's id had been accepted before; `seq` is the original. */
  duplicate?: true;
}

/** The events of one document or one topic, with their places in the request. */
interface Group {
  indices: number[];
  events: IngestEvent[];
}

/** What a `resource_updated` event's data is once ingest has validated it. */
const EditData = v.object({ path: v.string(), value: v.unknown(), updated_by: v.string() });

/** The part of a refused edit's details an ingest error reports. */
const RefusalDetails = v.object({ issue: v.optional(v.string()), hint: v.optional(v.string()) });

export async function publishAll(env: Env, events: IngestEvent[]): Promise<IngestResult[]> {
  const topics = new Map<string, Group>();
  const documents = new Map<string, Group & { ref: ResourceRef }>();
  for (const [index, event] of events.entries()) {
    const ref = event.route.document;
    const name = ref ? documentName(ref) : topicName(event.route);
    const group = ref ? documents.get(name) : topics.get(name);
    if (group) {
      group.indices.push(index);
      group.events.push(event);
    } else if (ref) documents.set(name, { ref, indices: [index], events: [event] });
    else topics.set(name, { indices: [index], events: [event] });
  }
  const results: IngestResult[] = new Array(events.length);
  const record = ({ event, route }: IngestEvent, index: number, seq: number, duplicate: boolean | undefined) => {
    results[index] = { event, channel: route.channel, key: route.key, seq, ...(duplicate ? { duplicate: true } : {}) };
  };
  const applied: number[] = [];
  let unpublished = false;
  for (const [name, group] of documents) {
    const outcome = await env.DOCUMENT.getByName(name).applyBatch(
      group.ref,
      group.events.map(({ data, id }) => {
        const edit = v.parse(EditData, data);
        return {
          path: edit.path,
          value: edit.value,
          updatedBy: edit.updated_by,
          ...(id === undefined ? {} : { eventId: id }),
        };
      }),
    );
    if (!outcome.ok) throw refusedEdits(events, group, outcome.errors, applied);
    for (const [position, { seq, duplicate }] of outcome.results.entries()) {
      const index = group.indices[position];
      const event = group.events[position];
      if (index === undefined || event === undefined) continue;
      applied.push(index);
      if (seq === null) unpublished = true;
      else record(event, index, seq, duplicate);
    }
  }
  if (unpublished) {
    // Stored, so never "refused": the document's outbox publishes it when the topic answers.
    throw new ProtocolError("server_error", "The edits are stored; their events are not published yet", {
      details: issueDetails("publish_pending", {
        retry: "post the same events, with their ids, to learn their seqs",
      }),
      status: 503,
    });
  }
  await Promise.all(
    [...topics].map(async ([topic, group]) => {
      const published = await env.TOPIC.getByName(topic).publish(
        topic,
        group.events.map(({ event, data, id }) => ({ event, data, id })),
      );
      for (const [position, { seq, duplicate }] of published.entries()) {
        const index = group.indices[position];
        const event = group.events[position];
        if (index !== undefined && event !== undefined) record(event, index, seq, duplicate);
      }
    }),
  );
  return results;
}

/**
 * A document refused its edits (nothing of them was applied). Nothing else of the request was
 * published; only edits of documents earlier in the request, if any, stand: they are listed.
 */
function refusedEdits(events: IngestEvent[], group: Group, refusals: BatchError[], applied: number[]): ProtocolError {
  const errors = refusals.map(({ position, message, details }) => {
    const parsed = v.safeParse(RefusalDetails, details ?? null);
    const { issue, hint } = parsed.success ? parsed.output : {};
    // An issue that is not a code yet is the sentence earlier documents sent: the message.
    const explained =
      issue === undefined || isIssueCode(issue)
        ? { message: hint ?? message, ...(issue === undefined ? {} : { issue }) }
        : { message: issue };
    return {
      index: group.indices[position],
      event: group.events[position]?.event ?? null,
      issues: [{ path: "data.path", ...explained }],
    };
  });
  const count = `${errors.length} of ${events.length} events are invalid`;
  return new ProtocolError(
    "invalid_message",
    applied.length === 0 ? `${count}; none was accepted` : `${count}; only the edits listed in applied were`,
    { details: applied.length === 0 ? { errors } : { errors, applied: applied.sort((a, b) => a - b) } },
  );
}
