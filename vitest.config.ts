import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// The Workers pool reads wrangler.jsonc through wrangler's API once per test file, and wrangler
// says each time that it loaded `.dev.vars` ("Using secrets defined in .dev.vars": one line per
// file on a machine that ran `npm run dev`; the bindings below override what the tests need).
// Wrangler's info lines in this process go; its warnings and errors still print, and so does
// everything the tests and the Worker log. The e2e dev servers set their own level (dev-server.ts).
process.env.WRANGLER_LOG ??= "warn";

/** The secret the Workers tests sign with; a test value, never a default of the service. */
export const TEST_JWT_SECRET = "test-secret-for-vitest-only-0123456789abcdef";

export default defineConfig({
  test: {
    projects: [
      {
        // Unit and integration tests inside workerd (the renamed @cloudflare/vitest-pool-workers).
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.jsonc" },
            miniflare: {
              bindings: {
                JWT_SECRET: TEST_JWT_SECRET,
                HUB_SHARDS: "4",
                ALLOWED_ORIGINS: "https://app.example.com",
                // The Socket.IO integration tests exercise recovery on every session; the
                // default (off) and the per-connection choice are tested end to end and in
                // test/unit/hub/recovery-log.test.ts.
                SOCKETIO_RECOVERY: "on",
              },
            },
          }),
        ],
        // The dashboard's built files, as wrangler.jsonc's alias names them for the Worker.
        resolve: {
          alias: { "realtime-edge:dashboard": fileURLToPath(new URL("./dist/dashboard/files.mjs", import.meta.url)) },
        },
        test: {
          name: "workers",
          include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts"],
          globalSetup: ["./test/build-dashboard.global-setup.ts"],
          testTimeout: 20_000,
        },
      },
      {
        // Real clients in Node against a running `wrangler dev`.
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
