/**
 * Builds the dashboard before the Workers tests: the Worker imports its files as the module
 * "realtime-edge:dashboard" (dist/dashboard/files.mjs, git-ignored), which wrangler builds
 * itself before `dev` and `deploy` but the Workers test pool does not.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync(process.execPath, ["scripts/build-dashboard.mjs"], { cwd: root, stdio: "inherit", timeout: 120_000 });
}
