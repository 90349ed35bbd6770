/** The JSON pane: the fund through the client SDK's editing session (`startEditing`, `set`). */
import { setLink } from "./dom";
import { FundForm } from "./fund-fields";
import type { EditingSession, EquihomeClient } from "./json-client";

export async function startJsonPane(
  client: EquihomeClient,
  fundId: string,
  onError: (message: string) => void,
): Promise<EditingSession> {
  const pane = document.getElementById("pane-json") as HTMLElement;
  let session: EditingSession | null = null;
  const form = new FundForm(
    pane,
    async (path, value) => {
      if (!session) throw new Error("not editing yet");
      await session.set(path, value);
    },
    onError,
  );
  session = await client.startEditing({ resource_type: "fund", resource_id: fundId });
  const current = session;
  const editors = () =>
    form.editors(`editors: ${current.editors.map((e) => e.email || e.user_id).join(", ") || "none"}`);
  form.show(current.document);
  editors();
  form.enable();
  current.on("change", (data, meta) => {
    form.show(current.document, [data.path]);
    pane.dataset.seq = String(meta.seq);
  });
  current.on("reload", () => form.show(current.document));
  current.on("editors", editors);
  current.on("ended", (info) => {
    setLink("json", "error", `editing ended: ${info.reason}`);
    onError(`JSON pane: the editing session ended (${info.reason})`);
  });
  return current;
}
