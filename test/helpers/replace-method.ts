/**
 * Replaces a method of a Durable Object class for every instance in this test file's isolate
 * (the objects run in the tests' isolate, and tests in a file run one at a time), to inject a
 * failure or a race. `replacement` gets the class's own method. Returns what puts it back: call
 * it when the test is done, and from `afterEach` too, so a failing test cannot leak it.
 */
import { runInDurableObject } from "cloudflare:test";

/** A method of any signature (method syntax: parameters are compared bivariantly). */
export type Method = { call(this: unknown, ...args: unknown[]): unknown }["call"];

export async function replaceMethod<O extends Rpc.DurableObjectBranded>(
  stub: DurableObjectStub<O>,
  name: string,
  replacement: (original: Method) => Method,
): Promise<() => void> {
  return runInDurableObject(stub, (instance: object) => {
    // The class that defines it, which may be a base class (then its subclasses see it too).
    let proto = Object.getPrototypeOf(instance) as object | null;
    while (proto && !Object.hasOwn(proto, name)) proto = Object.getPrototypeOf(proto) as object | null;
    const original = proto ? Object.getOwnPropertyDescriptor(proto, name) : undefined;
    if (!proto || typeof original?.value !== "function") throw new Error(`the class has no method ${name}`);
    Object.defineProperty(proto, name, { ...original, value: replacement(original.value as Method) });
    return () => Object.defineProperty(proto, name, original);
  });
}

/**
 * Makes every call of `method` on the stubs `namespace.getByName` returns fail with `message`
 * in the caller, as a call to an unreachable object does: the object's own code never runs.
 * The namespace object is the one the Worker and every Durable Object of this test file's
 * isolate use (`env.HUB`, `env.TOPIC`), so their calls fail too. Returns what puts it back
 * (call it when the test is done, and from `afterEach`).
 *
 * Preferred to `replaceMethod` with a method that throws: an exception thrown by a Durable
 * Object's RPC method is reported by workerd as an uncaught exception (a log line with its
 * stack, on every call) even though the caller catches it, and an unreachable object throws
 * nothing on its side.
 */
export function failCalls<O extends Rpc.DurableObjectBranded>(
  namespace: DurableObjectNamespace<O>,
  method: string,
  message: string,
): () => void {
  return wrapCalls(namespace, method, () => () => Promise.reject(new Error(message)));
}

/**
 * Makes every call of `method` on the stubs `namespace.getByName` returns run on the object as
 * usual and then fail in the caller with `message`: the object did the work, the caller never
 * learns it (a crash or a lost connection between the two). `times`: only the first so many
 * calls lose their reply (default: every call). Returns what puts it back (call it when the
 * test is done, and from `afterEach`).
 */
export function loseReplies<O extends Rpc.DurableObjectBranded>(
  namespace: DurableObjectNamespace<O>,
  method: string,
  message: string,
  times = Number.POSITIVE_INFINITY,
): () => void {
  let lost = 0;
  return wrapCalls(namespace, method, (call) => async (...args) => {
    const result = await call(...args);
    if (lost >= times) return result;
    lost += 1;
    throw new Error(message);
  });
}

type Call = (...args: unknown[]) => unknown;

/**
 * Replaces `namespace.getByName` so that the stubs it returns call `wrap(call)` for `method`,
 * where `call` is the stub's own RPC call; every other property is the stub's. Returns what puts
 * `getByName` back.
 */
function wrapCalls<O extends Rpc.DurableObjectBranded>(
  namespace: DurableObjectNamespace<O>,
  method: string,
  wrap: (call: Call) => Call,
): () => void {
  const getByName = Object.getOwnPropertyDescriptor(namespace, "getByName");
  const original = namespace.getByName;
  Object.defineProperty(namespace, "getByName", {
    configurable: true,
    writable: true,
    value: (...args: Parameters<DurableObjectNamespace<O>["getByName"]>) => {
      const stub = original.apply(namespace, args);
      return new Proxy(stub, {
        get(target, key) {
          const value: unknown = Reflect.get(target, key);
          if (typeof value !== "function") return value;
          // Called on the stub itself; `Reflect.apply`, since any property of an RPC method
          // (`bind`, `apply`) would be taken for a remote method of that name.
          const call: Call = (...args) => Reflect.apply(value, target, args);
          return key === method ? wrap(call) : call;
        },
      });
    },
  });
  return () => {
    if (getByName) Object.defineProperty(namespace, "getByName", getByName);
    else delete (namespace as { getByName?: unknown }).getByName;
  };
}
