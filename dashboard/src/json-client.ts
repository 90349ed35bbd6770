/**
 * The Equihome JSON protocol client the page uses: the repository's client SDK (client/). Its
 * one import point, so the page depends on the SDK's public surface only. Bundled from its sources
 * (the `types` path of the package's `./client` export), so the page needs no `npm run build:client`.
 */
export type {
  ChannelEvents,
  EditingSession,
  EquihomeClient,
  EventMeta,
} from "../../client/src/index";
export { createClient } from "../../client/src/index";
