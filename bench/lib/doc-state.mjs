/**
 * The stored state of one document Durable Object, read from wrangler dev's local SQLite files
 * while wrangler is stopped (the files are copied first, so nothing of the run's state changes).
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function sqliteFiles(dir) {
  const found = [];
  const walk = (path) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".sqlite")) found.push(full);
    }
  };
  if (existsSync(dir)) walk(dir);
  return found;
}

/** Sizes of the document named `name` (e.g. "fund:doc_x"), or {error} when it cannot be read. */
export async function documentState(stateDir, name) {
  let DatabaseSync;
  try {
    ({ DatabaseSync } = await import("node:sqlite"));
  } catch (error) {
    return { error: `node:sqlite unavailable: ${error.message}` };
  }
  const scratch = mkdtempSync(join(tmpdir(), "realtime-edge-bench-sqlite-"));
  try {
    for (const file of sqliteFiles(stateDir).filter((f) => f.includes("Document"))) {
      const copy = join(scratch, "doc.sqlite");
      for (const suffix of ["", "-wal", "-shm"]) {
        rmSync(copy + suffix, { force: true });
        if (existsSync(file + suffix)) copyFileSync(file + suffix, copy + suffix);
      }
      const db = new DatabaseSync(copy);
      try {
        const row = db.prepare("SELECT value FROM meta WHERE key = 'name'").get();
        if (row?.value !== name) continue;
        const one = (sql) => db.prepare(sql).get();
        const snapshot = one("SELECT COUNT(*) AS rows, COALESCE(SUM(length(data)), 0) AS bytes FROM snapshot");
        const log = one("SELECT COUNT(*) AS rows, COALESCE(SUM(length(data)), 0) AS bytes FROM updates");
        const outbox = one("SELECT COUNT(*) AS rows FROM outbox");
        const fileBytes = ["", "-wal"].reduce(
          (sum, suffix) => sum + (existsSync(file + suffix) ? statSync(file + suffix).size : 0),
          0,
        );
        return {
          yjsStateBytes: Number(snapshot.bytes) + Number(log.bytes),
          snapshotBytes: Number(snapshot.bytes),
          snapshotRows: Number(snapshot.rows),
          logUpdates: Number(log.rows),
          logBytes: Number(log.bytes),
          outboxRows: Number(outbox.rows),
          sqliteFileBytes: fileBytes,
        };
      } finally {
        db.close();
      }
    }
    return { error: `no document named ${name} under ${stateDir}` };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
