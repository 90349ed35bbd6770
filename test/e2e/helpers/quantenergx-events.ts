/**
 * Server events of the QuantEnergx seed (`seeds/quantenergx-websocket-protocol.md`, "Real-time
 * Data Events"), as publishers post them to `/v1/ingest`: the seed's payloads, with the fields a
 * test needs to tell its events apart (price, ids, user, message) as parameters.
 */
const AT = "2024-07-29T22:00:00.000Z";

export interface IngestEvent {
  event: string;
  data: Record<string, unknown> & { payload: Record<string, unknown> };
}

export function marketUpdate(commodity: string, price: number): IngestEvent {
  return {
    event: "market-update",
    data: {
      type: "MARKET_UPDATE",
      payload: {
        commodity,
        price,
        change: 0.75,
        changePercent: 1.01,
        volume: 125000,
        timestamp: AT,
        bid: price - 0.05,
        ask: price + 0.05,
      },
      timestamp: AT,
    },
  };
}

export function tradeUpdate(userId: string, id: string): IngestEvent {
  return {
    event: "trade-update",
    data: {
      type: "TRADE_UPDATE",
      payload: {
        id,
        orderId: "order-456",
        userId,
        commodity: "crude_oil",
        quantity: 1000,
        price: 75.25,
        side: "buy",
        status: "executed",
        executionTime: AT,
      },
      timestamp: AT,
      userId,
    },
  };
}

export function orderUpdate(userId: string, id: string): IngestEvent {
  return {
    event: "order-update",
    data: {
      type: "ORDER_UPDATE",
      payload: {
        id,
        userId,
        status: "partially_filled",
        filledQuantity: 500,
        remainingQuantity: 500,
        averagePrice: 75.23,
        timestamp: AT,
      },
      timestamp: AT,
      userId,
    },
  };
}

export function systemAlert(message: string): IngestEvent {
  return {
    event: "system-alert",
    data: {
      type: "SYSTEM_ALERT",
      payload: {
        alertType: "market_volatility",
        severity: "warning",
        message,
        affectedCommodities: ["crude_oil"],
        timestamp: AT,
      },
      timestamp: AT,
    },
  };
}
