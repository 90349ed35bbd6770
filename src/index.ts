import { app } from "./app";

export { HubDurableObject } from "./hub/hub-durable-object";
export { TopicDurableObject } from "./topic/topic-durable-object";

export default app;
