// Creates .dev.vars with a fresh random JWT_SECRET when it is missing, so `npm run dev` needs
// nothing configured. The file is git-ignored; the secret never leaves this machine.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const path = new URL("../.dev.vars", import.meta.url);
if (!existsSync(path) || !/^JWT_SECRET=./m.test(readFileSync(path, "utf8"))) {
  const secret = randomBytes(32).toString("base64url");
  const previous = existsSync(path) ? readFileSync(path, "utf8").trimEnd() : "";
  writeFileSync(path, `${previous ? `${previous}\n` : ""}JWT_SECRET=${secret}\n`, { mode: 0o600 });
  console.log("Created .dev.vars with a random JWT_SECRET (git-ignored).");
}
