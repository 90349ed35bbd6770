/** A small typed event emitter: `on` returns the function that removes the listener. */
/** Listeners are stored untyped; `on` and `emit` are typed per event. */
type Listener = (...args: unknown[]) => void;

export class Emitter<M extends { [K in keyof M]: unknown[] }> {
  #listeners = new Map<keyof M, Set<Listener>>();

  on<K extends keyof M>(event: K, listener: (...args: M[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as unknown as Listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof M>(event: K, listener: (...args: M[K]) => void): void {
    this.#listeners.get(event)?.delete(listener as unknown as Listener);
  }

  /**
   * Calls every listener of `event`. A listener that throws does not stop the others or the
   * client: its error is reported asynchronously (as an uncaught error), like a DOM event's.
   */
  emit<K extends keyof M>(event: K, ...args: M[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  listenerCount(event: keyof M): number {
    return this.#listeners.get(event)?.size ?? 0;
  }
}
