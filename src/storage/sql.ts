/** Small helpers over a Durable Object's SQLite, shared by the stores. */

/** Schema upgrade for tables created by an earlier version: SQLite has no ADD COLUMN IF NOT EXISTS. */
export function addColumnIfMissing(sql: SqlStorage, table: string, column: string): void {
  const name = column.split(" ")[0];
  const columns = sql.exec<{ name: string }>(`PRAGMA table_info(${table})`).toArray();
  if (!columns.some((row) => row.name === name)) sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column}`);
}

/** Parses a JSON text that may be absent; null when absent or not JSON. */
export function safeJson(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
