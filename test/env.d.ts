import type { Env as WorkerEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {}
    interface GlobalProps {
      mainModule: typeof import("../src/index");
      durableNamespaces:
        | "JsonHubDurableObject"
        | "SocketIoHubDurableObject"
        | "TopicDurableObject"
        | "DocumentDurableObject";
    }
  }
}
