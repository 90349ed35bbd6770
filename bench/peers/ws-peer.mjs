/**
 * Peer (b): a bare `ws` broadcast server, the practical upper bound. No auth, no rooms, no
 * persistence. It speaks just enough of the Equihome JSON protocol for the bench's client to
 * run unchanged: `subscribe` → `subscribed` (with the request's id), `ping` → `pong`.
 * POST /publish (body {event, data} or an array of them, ≤ 100) sends each event, serialized
 * once, to every open client, then answers 200. Nothing is stored. Listens on 127.0.0.1:$PEER_PORT.
 */
import { createServer } from "node:http";
import { WebSocketServer } from "ws";

const port = Number(process.env.PEER_PORT);
const MAX_BODY = 1024 * 1024;

const server = createServer(async (req, res) => {
  if (req.url === "/healthz") return reply(res, 200, { status: "ok" });
  if (req.url !== "/publish" || req.method !== "POST") return reply(res, 404, { error: "not found" });
  let body = "";
  let size = 0;
  req.setEncoding("utf8");
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) return reply(res, 413, { error: "too large" });
    body += chunk;
  }
  let items;
  try {
    const parsed = JSON.parse(body);
    items = Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    return reply(res, 400, { error: "invalid json" });
  }
  if (items.length < 1 || items.length > 100) return reply(res, 413, { error: "1..100 events" });
  for (const { event, data } of items) {
    const frame = JSON.stringify({ event, data });
    for (const client of wss.clients) if (client.readyState === 1) client.send(frame);
  }
  reply(res, 200, { results: items.length });
});

function reply(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 });
wss.on("connection", (socket) => {
  socket.on("message", (raw) => {
    let message;
    try {
      message = JSON.parse(String(raw));
    } catch {
      return;
    }
    if (message?.event === "subscribe") {
      socket.send(JSON.stringify({ event: "subscribed", data: message.data ?? {}, id: message.id }));
    } else if (message?.event === "ping") {
      socket.send(JSON.stringify({ event: "pong", data: { timestamp: Date.now() }, id: message.id }));
    }
  });
});

server.listen(port, "127.0.0.1", () => console.log(`ws-peer listening on ${port}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.once(signal, () => process.exit(0));
