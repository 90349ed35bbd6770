import { app } from "./app";

export { DocumentDurableObject } from "./document/document-durable-object";
export { JsonHubDurableObject } from "./hub/json/json-hub-durable-object";
export { SocketIoHubDurableObject } from "./hub/socketio/socketio-hub-durable-object";
export { TopicDurableObject } from "./topic/topic-durable-object";

export default app;
