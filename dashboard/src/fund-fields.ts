/**
 * The fund form both panes share: a few leaves of the fund's document (docs/PROTOCOL.md
 * "Document model": one nested map per path segment), each an input that commits on Enter or
 * when it loses focus. What a pane does with a commit is its own (the SDK's `set`, or a Yjs
 * transaction); what it shows comes from its own copy of the document.
 */
import { el } from "./dom";

export interface Field {
  path: string;
  label: string;
  kind: "text" | "number";
}

export const FUND_FIELDS: Field[] = [
  { path: "name", label: "name", kind: "text" },
  { path: "fee_structure.management_fee_rate", label: "management fee rate", kind: "number" },
  { path: "fee_structure.carried_interest", label: "carried interest", kind: "number" },
  { path: "fee_structure.hurdle_rate", label: "hurdle rate", kind: "number" },
  { path: "target_size", label: "target size", kind: "number" },
];

export type JsonObject = { [key: string]: unknown };

export function valueAt(document: JsonObject, path: string): unknown {
  let node: unknown = document;
  for (const segment of path.split(".")) {
    if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined;
    node = Object.hasOwn(node, segment) ? (node as JsonObject)[segment] : undefined;
  }
  return node;
}

export class FundForm {
  readonly #inputs = new Map<string, HTMLInputElement>();
  readonly #editors: HTMLElement;
  readonly #doc: HTMLElement;

  constructor(
    pane: HTMLElement,
    commit: (path: string, value: string | number) => Promise<void>,
    onError: (message: string) => void,
  ) {
    const form = pane.querySelector("form") as HTMLFormElement;
    this.#editors = pane.querySelector(".editors") as HTMLElement;
    this.#doc = pane.querySelector(".doc") as HTMLElement;
    const name = pane.dataset.pane ?? "pane";
    form.addEventListener("submit", (event) => event.preventDefault());
    for (const field of FUND_FIELDS) {
      const id = `${name}-${field.path.replaceAll(".", "-")}`;
      const input = el("input", {
        id,
        name: field.path,
        "data-path": field.path,
        type: "text",
        inputmode: field.kind === "number" ? "decimal" : "text",
        autocomplete: "off",
        disabled: "",
      });
      const send = async () => {
        if (input.value === input.dataset.shown) return;
        const raw = input.value.trim();
        const value = field.kind === "number" ? Number(raw) : raw;
        if (field.kind === "number" && (raw === "" || !Number.isFinite(value))) {
          onError(`${field.path}: a number, please`);
          input.value = input.dataset.shown ?? "";
          return;
        }
        input.classList.add("saving");
        try {
          await commit(field.path, value);
          input.dataset.shown = input.value;
        } catch (error) {
          onError(`${field.path}: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          input.classList.remove("saving");
        }
      };
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") void send();
        if (event.key === "Escape") input.value = input.dataset.shown ?? "";
      });
      input.addEventListener("blur", () => void send());
      this.#inputs.set(field.path, input);
      form.append(el("label", { for: id }, field.label), input);
    }
  }

  enable(): void {
    for (const input of this.#inputs.values()) input.removeAttribute("disabled");
  }

  /** Shows the document; `changed` paths flash. A field being typed in is left alone. */
  show(document: JsonObject, changed: string[] = []): void {
    for (const [path, input] of this.#inputs) {
      const value = valueAt(document, path);
      const text =
        value === undefined || value === null ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
      const typing = globalThis.document.activeElement === input && input.value !== input.dataset.shown;
      input.dataset.shown = text;
      if (!typing) input.value = text;
      if (changed.some((c) => c === path || path.startsWith(`${c}.`))) {
        input.classList.remove("changed");
        void input.offsetWidth;
        input.classList.add("changed");
        setTimeout(() => input.classList.remove("changed"), 900);
      }
    }
    this.#doc.textContent = JSON.stringify(document, null, 2);
  }

  editors(text: string): void {
    this.#editors.textContent = text;
  }
}
