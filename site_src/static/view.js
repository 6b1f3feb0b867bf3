// The template view: a template's waveform, footprint and probe (an SVG the page's Python
// built with every string escaped: the only markup the page inserts) and its fields.
import { call, state, writeURL } from "./state.js";
import { $, dataBusy } from "./status.js";
import { describeError, formatField } from "./words.js";

/** Open `templateId` in the view (and the URL's ?view=). */
export async function openView(templateId) {
  state.view = templateId;
  writeURL();
  $("view-empty").textContent = "Loading " + templateId + "…";
  $("view-empty").hidden = false;
  dataBusy(1);
  try {
    const view = await call("view", { template_id: templateId });
    if (state.view !== templateId) return;
    $("view-empty").hidden = true;
    $("similar-button").hidden = false;  // similar.js ranks the results by this template
    $("view-figure").innerHTML = view.svg;
    const dl = $("view-fields");
    dl.textContent = "";
    for (const [name, value] of view.fields) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = formatField(value);
      dl.append(dt, dd);
    }
    $("view").scrollIntoView({ block: "nearest" });
  } catch (error) {
    $("view-empty").textContent = describeError(error);
  } finally {
    dataBusy(-1);
  }
}
