// What a market data feed and a trading back end would post to /v1/ingest, one round at a time:
// a tick for crude_oil and natural_gas (a small random walk), and an order update or a trade for
// the user, in turn; every fifth round (from the second) a system alert. Used by the quantenergx and react examples.

export function marketFeed(userId: string): () => unknown[] {
  const prices: Record<string, number> = { crude_oil: 74.25, natural_gas: 2.85 };
  let round = 0;

  return function batch(): unknown[] {
    const now = new Date().toISOString();
    const events: unknown[] = [];
    for (const commodity of Object.keys(prices)) {
      const before = prices[commodity] ?? 0;
      // A small random walk, rounded to cents.
      const price = Math.round(before * (1 + (Math.random() - 0.5) / 50) * 100) / 100;
      prices[commodity] = price;
      events.push({
        event: "market-update",
        data: {
          type: "MARKET_UPDATE",
          payload: {
            commodity,
            price,
            change: Math.round((price - before) * 100) / 100,
            changePercent: Math.round(((price - before) / before) * 10_000) / 100,
            volume: 100_000 + Math.floor(Math.random() * 50_000),
            timestamp: now,
            bid: Math.round((price - 0.01) * 100) / 100,
            ask: Math.round((price + 0.01) * 100) / 100,
          },
          timestamp: now,
        },
      });
    }
    if (round % 5 === 1) {
      events.push({
        event: "system-alert",
        data: {
          type: "SYSTEM_ALERT",
          payload: {
            alertType: "market_volatility",
            severity: "warning",
            message: "Crude oil volatility above its 30-day average",
            affectedCommodities: ["crude_oil"],
            timestamp: now,
          },
          timestamp: now,
        },
      });
    }
    if (round % 2 === 0) {
      events.push({
        event: "order-update",
        data: {
          type: "ORDER_UPDATE",
          payload: {
            id: "order-456",
            userId,
            status: "partially_filled",
            filledQuantity: 500,
            remainingQuantity: 500,
            averagePrice: prices.crude_oil,
            timestamp: now,
          },
          timestamp: now,
          userId,
        },
      });
    } else {
      events.push({
        event: "trade-update",
        data: {
          type: "TRADE_UPDATE",
          payload: {
            id: `trade-${round}`,
            orderId: "order-456",
            userId,
            commodity: "crude_oil",
            quantity: 500,
            price: prices.crude_oil,
            side: "buy",
            status: "executed",
            executionTime: now,
          },
          timestamp: now,
          userId,
        },
      });
    }
    round += 1;
    return events;
  };
}
