/** Small DOM helpers for the dashboard: no framework, every text set with textContent. */

type Child = Node | string | number | null | undefined | false;

/** `el("div", { class: "x", "data-id": "y" }, child, "text")`. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) node.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "number" ? String(child) : child);
  }
  return node;
}

/** The element matching `selector` under `root`; throws when the page lacks it (a bug). */
export function find<T extends Element = HTMLElement>(selector: string, root: ParentNode = document): T {
  const node = root.querySelector<T & Element>(selector);
  if (!node) throw new Error(`dashboard: no ${selector}`);
  return node;
}

export type LinkState = "connecting" | "open" | "error" | "off";

/** The connection badges in the header. */
export function setLink(name: "json" | "sio" | "yjs" | "ops", state: LinkState, title?: string): void {
  const badge = find(`[data-link="${name}"]`);
  badge.dataset.state = state;
  if (title !== undefined) badge.title = title;
}

/** Restarts a CSS class (a flash) on `node`. */
export function flash(node: HTMLElement, name: string, ms = 700): void {
  node.classList.remove(name);
  void node.offsetWidth;
  node.classList.add(name);
  setTimeout(() => node.classList.remove(name), ms);
}

export function formatNumber(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(digits)}B`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(digits)}M`;
  if (abs >= 1e4) return value.toLocaleString("en-US", { maximumFractionDigits: 0 });
  return value.toLocaleString("en-US", { maximumFractionDigits: Math.max(digits, abs < 1 ? 4 : digits) });
}

export function formatTime(iso: string | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString("en-GB", { hour12: false });
}

/** `snake_case_name` → `snake case name`. */
export function humanize(key: string): string {
  return key.replaceAll("_", " ");
}
