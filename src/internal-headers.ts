/**
 * Headers by which the Worker hands a verified connection to a Durable Object. Set only by the
 * Worker after authentication (it overwrites whatever the client sent); never read from clients.
 */
export const HUB_NAME_HEADER = "X-Realtime-Hub";
export const DOCUMENT_NAME_HEADER = "X-Realtime-Document";
export const PRINCIPAL_HEADER = "X-Realtime-Principal";
