/**
 * The QuantEnergx events (the QuantEnergx protocol document; docs/PROTOCOL.md): the payloads clients send,
 * the server events publishers post to `/v1/ingest`, and the rooms (topics) they live in. Pure.
 */
import * as v from "valibot";
import { MAX_TEXT_LENGTH } from "../limits";
import { FiniteNumber, NonNegative, PlainObject, ShortText, Text, Timestamp } from "../schemas";

export const MAX_COMMODITIES_PER_REQUEST = 50;

export const CommoditySchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "a commodity is 1-64 letters, digits, _ . -"),
);
export const UserIdSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
export const CommodityListSchema = v.pipe(
  v.array(CommoditySchema),
  v.minLength(1, "name at least one commodity"),
  v.maxLength(MAX_COMMODITIES_PER_REQUEST, `at most ${MAX_COMMODITIES_PER_REQUEST} commodities at once`),
);
export const AuthenticateSchema = v.object({ userId: UserIdSchema, token: v.pipe(v.string(), v.minLength(1)) });

/** A user's private rooms: the Socket.IO room name and the topic behind it. */
export const USER_ROOMS = {
  trading: { room: (userId: string) => `trading-${userId}`, channel: "trading" },
  orders: { room: (userId: string) => `orders-${userId}`, channel: "orders" },
  compliance: { room: (userId: string) => `compliance-${userId}`, channel: "compliance" },
} as const;

export const MARKET_CHANNEL = "market";
export const SYSTEM_ALERTS_CHANNEL = "system_alerts";

/**
 * The Socket.IO room name of a topic, as `resync` names it: `trading-<user>`, `orders-<user>`,
 * `compliance-<user>`, `market-<commodity>`, `system-alerts`.
 */
export function roomOfTopic(channel: string, key: string | null): string {
  const user = Object.values(USER_ROOMS).find((spec) => spec.channel === channel);
  if (user && key !== null) return user.room(key);
  if (channel === MARKET_CHANNEL && key !== null) return `market-${key}`;
  return channel === SYSTEM_ALERTS_CHANNEL ? "system-alerts" : key === null ? channel : `${channel}-${key}`;
}

// ---------------------------------------------------------------------------------------------
// Server events, as posted to /v1/ingest and received by clients

const Id = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const Short = ShortText;
const Num = FiniteNumber;

export const MarketUpdate = v.strictObject({
  type: v.literal("MARKET_UPDATE"),
  payload: v.strictObject({
    commodity: CommoditySchema,
    price: Num,
    change: v.optional(Num),
    changePercent: v.optional(Num),
    volume: v.optional(NonNegative),
    timestamp: Timestamp,
    bid: v.optional(Num),
    ask: v.optional(Num),
  }),
  timestamp: Timestamp,
});

/** The top-level `userId` names the room; the payload's, when present, must agree. */
const sameUser = <T extends { userId: string; payload: { userId?: string | undefined } }>() =>
  v.check<T, string>(
    (event) => event.payload.userId === undefined || event.payload.userId === event.userId,
    "payload.userId must equal userId",
  );

export const TradeUpdate = v.pipe(
  v.strictObject({
    type: v.literal("TRADE_UPDATE"),
    payload: v.strictObject({
      id: Id,
      orderId: Id,
      userId: v.optional(Id),
      commodity: CommoditySchema,
      quantity: NonNegative,
      price: Num,
      side: v.picklist(["buy", "sell"]),
      status: Short,
      executionTime: Timestamp,
    }),
    timestamp: Timestamp,
    userId: Id,
  }),
  sameUser(),
);

export const OrderUpdate = v.pipe(
  v.strictObject({
    type: v.literal("ORDER_UPDATE"),
    payload: v.strictObject({
      id: Id,
      userId: v.optional(Id),
      status: Short,
      filledQuantity: NonNegative,
      remainingQuantity: NonNegative,
      averagePrice: v.optional(Num),
      timestamp: Timestamp,
    }),
    timestamp: Timestamp,
    userId: Id,
  }),
  sameUser(),
);

export const SystemAlert = v.strictObject({
  type: v.literal("SYSTEM_ALERT"),
  payload: v.strictObject({
    alertType: Short,
    severity: Short,
    message: Text,
    affectedCommodities: v.optional(v.pipe(v.array(CommoditySchema), v.maxLength(100))),
    timestamp: Timestamp,
  }),
  timestamp: Timestamp,
});

export const ComplianceAlert = v.pipe(
  v.strictObject({
    type: v.literal("SYSTEM_ALERT"),
    payload: v.strictObject({
      type: v.literal("COMPLIANCE_ALERT"),
      checkType: Short,
      severity: Short,
      message: Text,
      userId: v.optional(Id),
      details: v.optional(
        v.pipe(
          PlainObject,
          v.check(
            (value) => JSON.stringify(value).length <= MAX_TEXT_LENGTH,
            `at most ${MAX_TEXT_LENGTH} characters as JSON`,
          ),
        ),
      ),
    }),
    timestamp: Timestamp,
    userId: Id,
  }),
  sameUser(),
);
