// Prints a token signed with the local JWT_SECRET (.dev.vars), for trying the service by hand:
//   npm run token -- --sub user-123 --scope "edit publish" [--email a@b.c] [--ttl 3600]
//                    [--resources "fund:fund_123 simulation:*"] [--secret S]
import { parseArgs } from "node:util";
import { signLocalToken } from "./local-token.mjs";

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

console.log(
  await signLocalToken({
    ...values,
    resources: values.resources?.split(/\s+/).filter(Boolean),
  }),
);
