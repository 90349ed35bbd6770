/**
 * QuantEnergx over Socket.IO with an unmodified socket.io-client: the market ticker
 * (`subscribe-market`), and the user's orders and trades (`subscribe-orders`, `join-trading`).
 * The token goes in the CONNECT auth (asked again at every reconnection), and is renewed on the
 * open session with `authenticate` before it expires (docs/PROTOCOL.md "Authenticating").
 */
import { io, type Socket } from "socket.io-client";
import { el, find, flash, formatNumber, formatTime, humanize, setLink } from "./dom";
import { readClaims } from "./tokens";

interface MarketPayload {
  commodity: string;
  price: number;
  change?: number;
  changePercent?: number;
  volume?: number;
  bid?: number;
  ask?: number;
  timestamp: string;
}

interface OrderPayload {
  id: string;
  status: string;
  filledQuantity: number;
  remainingQuantity: number;
  averagePrice?: number;
}

interface TradePayload {
  id: string;
  orderId: string;
  commodity: string;
  quantity: number;
  price: number;
  side: "buy" | "sell";
  status: string;
}

const HISTORY = 40;

class Tick {
  readonly root: HTMLElement;
  #price = el("div", { class: "price" }, "–");
  #change = el("div", { class: "change" });
  #bidask = el("div", { class: "bidask" });
  #line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  #history: number[] = [];

  constructor(commodity: string) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${HISTORY - 1} 28`);
    svg.setAttribute("preserveAspectRatio", "none");
    this.#line.setAttribute("fill", "none");
    this.#line.setAttribute("stroke-width", "1.5");
    this.#line.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(this.#line);
    this.root = el(
      "div",
      { class: "tick", "data-commodity": commodity },
      el("div", { class: "commodity" }, humanize(commodity)),
      this.#price,
      this.#change,
      svg,
      this.#bidask,
    );
  }

  update(tick: MarketPayload): void {
    const previous = this.#history.at(-1);
    this.#history.push(tick.price);
    if (this.#history.length > HISTORY) this.#history.shift();
    this.root.dataset.price = String(tick.price);
    this.#price.textContent = formatNumber(tick.price, 2);
    const change = tick.change ?? (previous === undefined ? 0 : tick.price - previous);
    const direction = change >= 0 ? "up" : "down";
    const pct =
      tick.changePercent === undefined ? "" : ` (${change >= 0 ? "+" : ""}${tick.changePercent.toFixed(2)} %)`;
    this.#change.className = `change ${direction}`;
    this.#change.textContent = `${change >= 0 ? "▲ +" : "▼ "}${change.toFixed(2)}${pct}`;
    const bidask = tick.bid !== undefined && tick.ask !== undefined ? `bid ${tick.bid} · ask ${tick.ask} · ` : "";
    this.#bidask.textContent = `${bidask}vol ${formatNumber(tick.volume ?? null, 0)} · ${formatTime(tick.timestamp)}`;
    const min = Math.min(...this.#history);
    const max = Math.max(...this.#history);
    const span = max - min || 1;
    const offset = HISTORY - this.#history.length;
    this.#line.setAttribute(
      "points",
      this.#history.map((p, i) => `${i + offset},${(26 - ((p - min) / span) * 24).toFixed(2)}`).join(" "),
    );
    this.#line.setAttribute("stroke", direction === "up" ? "#3fb950" : "#f85149");
    if (previous !== undefined && previous !== tick.price)
      flash(this.root, tick.price > previous ? "flash-up" : "flash-down");
  }
}

export interface MarketLink {
  socket: Socket;
  /** Authenticates the open session again with a fresh token. */
  refresh(): Promise<void>;
  close(): void;
}

export function startMarket(
  commodities: string[],
  token: () => Promise<string>,
  onError: (message: string) => void,
): MarketLink {
  const ticker = find("#market .ticker");
  const rows = find("#orders tbody");
  const ticks = new Map<string, Tick>();
  for (const commodity of commodities) {
    const tick = new Tick(commodity);
    ticks.set(commodity, tick);
    ticker.append(tick.root);
  }
  const row = (kind: string, id: string, detail: string, status: string) => {
    rows.prepend(
      el(
        "tr",
        { "data-kind": kind, "data-id": id },
        el("td", {}, kind),
        el("td", {}, id),
        el("td", {}, detail),
        el("td", {}, humanize(status)),
      ),
    );
    while (rows.children.length > 10) rows.lastElementChild?.remove();
  };

  let userId = "";
  setLink("sio", "connecting");
  const socket = io(location.origin, {
    // Asked at every (re)connection: a fresh token, and the user it names.
    auth: (give) => {
      token().then(
        (t) => {
          userId = readClaims(t)?.sub ?? "";
          give({ token: t, userId });
        },
        (error: unknown) => onError(`Socket.IO token: ${String(error)}`),
      );
    },
  });
  // Subscribes (again after every reconnection); the badge turns green once all three are confirmed.
  socket.on("connect", () => {
    const user = userId;
    const ask = (event: string, arg: unknown) =>
      socket
        .timeout(10_000)
        .emitWithAck(event, arg)
        .then((reply: { error?: { message?: string } } | undefined) => {
          if (reply?.error) throw new Error(`${event}: ${reply.error.message ?? "refused"}`);
        });
    Promise.all([ask("subscribe-market", commodities), ask("subscribe-orders", user), ask("join-trading", user)]).then(
      () => setLink("sio", "open", `Socket.IO session ${socket.id ?? ""}, user ${user}`),
      (error: unknown) => {
        setLink("sio", "error", String(error));
        onError(`Socket.IO: ${error instanceof Error ? error.message : String(error)}`);
      },
    );
  });
  socket.on("connect_error", (error) => {
    setLink("sio", "error", `Socket.IO: ${error.message}`);
    onError(`Socket.IO: ${error.message}`);
  });
  socket.on("disconnect", (reason) => setLink("sio", "connecting", `Socket.IO: ${reason}`));
  socket.on("error", (error: { code?: string; message?: string }) => onError(`Socket.IO: ${error.message ?? ""}`));
  socket.on("auth-error", (error: { message?: string }) => {
    setLink("sio", "error", `Socket.IO: ${error.message ?? "auth-error"}`);
    onError(`Socket.IO auth-error: ${error.message ?? ""}`);
  });
  socket.on("market-update", (update: { payload: MarketPayload }) => {
    const payload = update.payload;
    let tick = ticks.get(payload.commodity);
    if (!tick) {
      tick = new Tick(payload.commodity);
      ticks.set(payload.commodity, tick);
      ticker.append(tick.root);
    }
    tick.update(payload);
  });
  socket.on("order-update", (update: { payload: OrderPayload }) => {
    const o = update.payload;
    const avg = o.averagePrice === undefined ? "" : ` @ ${o.averagePrice}`;
    row("order", o.id, `filled ${o.filledQuantity} / ${o.filledQuantity + o.remainingQuantity}${avg}`, o.status);
  });
  socket.on("trade-update", (update: { payload: TradePayload }) => {
    const t = update.payload;
    row("trade", t.id, `${t.side} ${t.quantity} ${humanize(t.commodity)} @ ${t.price}`, t.status);
  });
  socket.on("resync", ({ room }: { room: string }) => onError(`Socket.IO: events were missed in ${room}`));

  return {
    socket,
    refresh: async () => {
      if (socket.connected) socket.emit("authenticate", { userId, token: await token() });
    },
    close: () => socket.close(),
  };
}
