/**
 * The six channels of the Equihome seed: which key each needs, which resource its key names
 * (for the token's `resources` patterns). Which channels have a latest state: topics.ts.
 */
export interface ChannelSpec {
  /** The field of `subscribe` that carries the key, or null for a channel without one. */
  keyField: "simulation_id" | "portfolio_id" | "fund_id" | null;
  /** The resource type a key names, checked against the token's `resources`. */
  resourceType: "simulation" | "portfolio" | "fund" | null;
}

export const CHANNELS = {
  simulation_updates: { keyField: "simulation_id", resourceType: "simulation" },
  gp_entity_updates: { keyField: "simulation_id", resourceType: "simulation" },
  portfolio_updates: { keyField: "portfolio_id", resourceType: "portfolio" },
  fund_updates: { keyField: "fund_id", resourceType: "fund" },
  system_notifications: { keyField: null, resourceType: null },
  traffic_light_updates: { keyField: null, resourceType: null },
} as const satisfies Record<string, ChannelSpec>;

export type ChannelName = keyof typeof CHANNELS;

export function isChannelName(name: string): name is ChannelName {
  return Object.hasOwn(CHANNELS, name);
}

export function channelSpec(name: string): ChannelSpec | undefined {
  return isChannelName(name) ? CHANNELS[name] : undefined;
}
