import { app } from "./app";

export { DocumentDurableObject } from "./document/document-durable-object";
export { HubDurableObject } from "./hub/hub-durable-object";
export { TopicDurableObject } from "./topic/topic-durable-object";

export default app;
