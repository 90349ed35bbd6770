/**
 * realtime-edge's client SDK for the Equihome JSON protocol (`/v1/ws`). See the README's
 * "Client SDK" section and docs/PROTOCOL.md.
 */
export type { BackoffOptions } from "./backoff";
export { backoffDelay } from "./backoff";
export type {
  ClientEvents,
  ClientOptions,
  CloseInfo,
  EditingEvents,
  EditingSession,
  EndedInfo,
  Subscription,
  SubscriptionEvents,
  TokenSource,
} from "./client";
export { createClient, EquihomeClient } from "./client";
export type { JsonObject } from "./document";
export type { EquihomeErrorCode, EquihomeErrorDetails } from "./errors";
export { EquihomeError } from "./errors";
export type {
  ChannelEventName,
  ChannelEvents,
  ChannelName,
  EditableResourceType,
  Editor,
  EventMeta,
  EventsOf,
  ReloadInfo,
  Replies,
  ResourceRef,
  SubscribeParams,
} from "./types";
export { CHANNEL_EVENTS } from "./types";
