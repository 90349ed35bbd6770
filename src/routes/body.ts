import { issueDetails, ProtocolError } from "../protocol/errors";

/** Reads a request body as text, refusing with 413 as soon as it passes `limit` bytes. */
export async function readBodyLimited(request: Request, limit: number): Promise<string> {
  const tooLarge = () =>
    new ProtocolError("invalid_message", `Body is over ${limit} bytes`, {
      details: issueDetails("body_too_large", { limit }),
      status: 413,
    });
  const declared = Number(request.headers.get("Content-Length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ProtocolError("invalid_message", "Body is not valid UTF-8");
  }
}
