/**
 * An upgrade refused in a way a browser can read: it cannot see a refused upgrade's status, but
 * it can read a close code and a message. Used by the Worker (a bad token) and by the objects
 * that hold sockets (a per-user connection limit).
 */
export function refusedSocket(code: number, reason: string, frame?: string): Response {
  const pair = new WebSocketPair();
  const [client, server] = [pair[0], pair[1]];
  server.accept();
  if (frame !== undefined) server.send(frame);
  server.close(code, reason.slice(0, 120));
  return new Response(null, { status: 101, webSocket: client });
}
