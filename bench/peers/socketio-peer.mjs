/**
 * Peer (a): a Node Socket.IO server written the way the Equihome seed's server example is
 * (seeds/equihome-websocket-protocol.md, "Server-Side Implementation"): the `socket.io` server
 * package, a JWT auth middleware on the handshake (here jose HS256 instead of jsonwebtoken),
 * `subscribe` joining the room `simulation:<id>` and answering `subscribed`, `ping` → `pong`,
 * and a broadcast with `io.to(room).emit(event, {event, data})`.
 *
 * For the bench it adds what the seed leaves to "the simulation engine": POST /publish
 * (Authorization: Bearer <token with scope publish>, body {room, event, data} or an array of
 * them, ≤ 100) broadcasting each to its room and answering 200 once emitted. Nothing is stored:
 * a 200 is not durable (unlike /v1/ingest). Listens on 127.0.0.1:$PEER_PORT.
 */
import { createServer } from "node:http";
import { jwtVerify } from "jose";
import { Server } from "socket.io";

const port = Number(process.env.PEER_PORT);
const key = new TextEncoder().encode(process.env.PEER_JWT_SECRET ?? "");
const verify = (token) => jwtVerify(token, key, { algorithms: ["HS256"], clockTolerance: 30 });

const MAX_BODY = 1024 * 1024;

const server = createServer((req, res) => {
  if (req.url === "/healthz") return reply(res, 200, { status: "ok" });
  if (req.url === "/publish" && req.method === "POST") return publish(req, res);
  if (req.url?.startsWith("/socket.io")) return; // engine.io handles it
  reply(res, 404, { error: "not found" });
});

function reply(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

async function publish(req, res) {
  const auth = req.headers.authorization ?? "";
  let body = "";
  let size = 0;
  req.setEncoding("utf8");
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) return reply(res, 413, { error: "too large" });
    body += chunk;
  }
  try {
    const { payload } = await verify(auth.replace(/^Bearer /, ""));
    if (
      !String(payload.scope ?? "")
        .split(" ")
        .includes("publish")
    )
      return reply(res, 403, { error: "forbidden" });
  } catch {
    return reply(res, 401, { error: "authentication_error" });
  }
  let items;
  try {
    const parsed = JSON.parse(body);
    items = Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    return reply(res, 400, { error: "invalid json" });
  }
  if (items.length < 1 || items.length > 100) return reply(res, 413, { error: "1..100 events" });
  for (const { room, event, data } of items) io.to(room).emit(event, { event, data });
  reply(res, 200, { results: items.length });
}

const io = new Server(server, { serveClient: false });

// Authentication middleware, as in the seed (token in the handshake query; auth payload too).
io.use(async (socket, next) => {
  const token = socket.handshake.query.token ?? socket.handshake.auth?.token;
  if (!token) return next(new Error("Authentication error"));
  try {
    socket.user = (await verify(String(token))).payload;
    next();
  } catch {
    next(new Error("Authentication error"));
  }
});

io.on("connection", (socket) => {
  socket.on("subscribe", (message) => {
    const { channel, simulation_id } = message?.data ?? {};
    if (channel === "simulation_updates" && simulation_id) {
      socket.join(`simulation:${simulation_id}`);
      socket.emit("subscribed", { event: "subscribed", data: { channel, simulation_id }, id: message.id });
    } else {
      socket.emit("error", {
        event: "error",
        data: { code: "invalid_subscription", message: "Invalid subscription parameters" },
        id: message?.id,
      });
    }
  });
  socket.on("unsubscribe", (message) => {
    const { channel, simulation_id } = message?.data ?? {};
    if (channel === "simulation_updates" && simulation_id) {
      socket.leave(`simulation:${simulation_id}`);
      socket.emit("unsubscribed", { event: "unsubscribed", data: { channel, simulation_id }, id: message.id });
    }
  });
  socket.on("ping", (message) => {
    socket.emit("pong", { event: "pong", data: { timestamp: Date.now() }, id: message?.id });
  });
});

server.listen(port, "127.0.0.1", () => console.log(`socketio-peer listening on ${port}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.once(signal, () => process.exit(0));
