/**
 * Peer (a): a Node Socket.IO server written the way the Equihome seed's server example is
 * (the Equihome protocol document's "Server-Side Implementation"): the `socket.io` server
 * package, a JWT auth middleware on the handshake (here jose HS256 instead of jsonwebtoken),
 * `subscribe` joining the room `simulation:<id>` and answering `subscribed`, `ping` → `pong`,
 * and a broadcast with `io.to(room).emit(event, {event, data})`.
 *
 * For the bench it adds what the seed leaves to "the simulation engine": POST /publish
 * (Authorization: Bearer <token with scope publish>, body {room, event, data, id?} or an array of
 * them, ≤ 100) broadcasting each to its room and answering 200 once emitted. Listens on
 * 127.0.0.1:$PEER_PORT.
 *
 * Two modes:
 * - default: nothing is stored; a 200 is not durable (unlike /v1/ingest).
 * - durable (PEER_DURABLE=1, the bench's "sio-durable-peer"): each request's events are stored in
 *   SQLite (Node's built-in node:sqlite, DatabaseSync, WAL, `synchronous` from PEER_SYNCHRONOUS,
 *   FULL unless told) in one transaction, before they are emitted and the 200 is sent, as the
 *   edge's topic does: a per-room seq, the event row, a dedupe row when the event has an `id` (a
 *   repeated id is answered with its first seq and not emitted again), and history pruned to the
 *   last 1,000 events of the room. The database is $PEER_TEMP_DIR/events.sqlite.
 */
import { createServer } from "node:http";
import { join } from "node:path";
import { jwtVerify } from "jose";
import { Server } from "socket.io";

const port = Number(process.env.PEER_PORT);
const store = process.env.PEER_DURABLE === "1" ? await openStore() : null;
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
  if (!store) {
    for (const { room, event, data } of items) io.to(room).emit(event, { event, data });
    return reply(res, 200, { results: items.length });
  }
  let results;
  try {
    results = store.append(items); // committed (and synced, per PEER_SYNCHRONOUS) when it returns
  } catch (error) {
    return reply(res, 500, { error: `not stored: ${error.message}` });
  }
  items.forEach(({ room, event, data }, i) => {
    if (!results[i].duplicate) io.to(room).emit(event, { event, data, seq: results[i].seq });
  });
  reply(res, 200, { results });
}

/** The durable mode's store: one SQLite file, one transaction per request. */
async function openStore() {
  const { DatabaseSync } = await import("node:sqlite");
  const synchronous = (process.env.PEER_SYNCHRONOUS ?? "FULL").toUpperCase();
  if (!["FULL", "NORMAL", "EXTRA", "OFF"].includes(synchronous)) throw new Error(`bad PEER_SYNCHRONOUS ${synchronous}`);
  const db = new DatabaseSync(join(process.env.PEER_TEMP_DIR ?? ".", "events.sqlite"));
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(`PRAGMA synchronous = ${synchronous}`);
  db.exec(`
    CREATE TABLE IF NOT EXISTS rooms (room TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS events (
      room TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL, id TEXT,
      stored_at INTEGER NOT NULL, PRIMARY KEY (room, seq)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS dedupe (id TEXT PRIMARY KEY, room TEXT NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID;
  `);
  const seqs = new Map(
    db
      .prepare("SELECT room, seq FROM rooms")
      .all()
      .map((row) => [row.room, Number(row.seq)]),
  );
  const findId = db.prepare("SELECT seq FROM dedupe WHERE id = ?");
  const insertEvent = db.prepare(
    "INSERT INTO events (room, seq, event, data, id, stored_at) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const insertId = db.prepare("INSERT INTO dedupe (id, room, seq) VALUES (?, ?, ?)");
  const putRoom = db.prepare(
    "INSERT INTO rooms (room, seq) VALUES (?, ?) ON CONFLICT (room) DO UPDATE SET seq = excluded.seq",
  );
  const prune = db.prepare("DELETE FROM events WHERE room = ? AND seq <= ?");
  const HISTORY = 1000;
  return {
    synchronous,
    append(items) {
      const now = Date.now();
      const touched = new Map();
      db.exec("BEGIN IMMEDIATE");
      try {
        const results = items.map(({ room, event, data, id }) => {
          const key = String(room);
          if (id !== undefined) {
            const seen = findId.get(String(id));
            if (seen) return { seq: Number(seen.seq), duplicate: true };
          }
          const seq = (touched.get(key) ?? seqs.get(key) ?? 0) + 1;
          touched.set(key, seq);
          insertEvent.run(
            key,
            seq,
            String(event),
            JSON.stringify(data ?? null),
            id === undefined ? null : String(id),
            now,
          );
          if (id !== undefined) insertId.run(String(id), key, seq);
          return { seq };
        });
        for (const [room, seq] of touched) {
          putRoom.run(room, seq);
          if (seq > HISTORY) prune.run(room, seq - HISTORY);
        }
        db.exec("COMMIT");
        for (const [room, seq] of touched) seqs.set(room, seq);
        return results;
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
    },
  };
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

server.listen(port, "127.0.0.1", () =>
  console.log(
    `socketio-peer listening on ${port}${store ? `, durable (SQLite, synchronous=${store.synchronous})` : ""}`,
  ),
);
for (const signal of ["SIGTERM", "SIGINT"]) process.once(signal, () => process.exit(0));
