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

/** A method that always fails with `message`, as an unreachable object would. */
export const failing = (message: string) => (): Method => async () => {
  throw new Error(message);
};
