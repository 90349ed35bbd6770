// Prints a token signed with the local JWT_SECRET (.dev.vars), for trying the service by hand:
//   npm run token -- --sub user-123 --scope "edit publish" [--email a@b.c] [--ttl 3600]
//                    [--resources "fund:fund_123 simulation:*"]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";

const { values } = parseArgs({
  options: {
    sub: { type: "string", default: "user-123" },
    scope: { type: "string", default: "" },
    email: { type: "string" },
    ttl: { type: "string", default: "3600" },
    resources: { type: "string" },
    secret: { type: "string" },
  },
});

function localSecret() {
  try {
    const match = /^JWT_SECRET=(.+)$/m.exec(readFileSync(new URL("../.dev.vars", import.meta.url), "utf8"));
    if (match) return match[1].trim();
  } catch {}
  console.error("No JWT_SECRET: run `npm run dev` once (it creates .dev.vars) or pass --secret.");
  process.exit(1);
}

const claims = { scope: values.scope };
if (values.email) claims.email = values.email;
if (values.resources) claims.resources = values.resources.split(/\s+/).filter(Boolean);
const token = await new SignJWT(claims)
  .setProtectedHeader({ alg: "HS256" })
  .setSubject(values.sub)
  .setIssuedAt()
  .setExpirationTime(Math.floor(Date.now() / 1000) + Number(values.ttl))
  .sign(new TextEncoder().encode(values.secret ?? localSecret()));
console.log(token);
