// The stage line ("Starting Python…", "Ready", ...; role=status) and the notes it carries.
import { run, stage } from "./state.js";

export const $ = (id) => document.getElementById(id);

export const STAGES = { runtime: "Starting Python…", catalogue: "Reading catalogue…", later: "Loading the rest of Python…" };

/** Show `text` (with the preview and catalogue notes unless `kind` is "error"). */
export function setStage(text, kind) {
  stage.text = text;
  const el = $("stage");
  const notes = kind === "error" ? [] : [stage.catalogueNote, stage.previewNote].filter(Boolean);
  el.textContent = [text, ...notes].join(" · ");
  el.dataset.kind = kind || "";
}

/** Say once why previews are not used (thumbnails then come from the templates). */
export function notePreviewProblem(problem) {
  if (!problem || stage.previewNote) return;
  stage.previewNote = "previews unavailable (" + problem + "), thumbnails come from the templates";
  setStage(stage.text, $("stage").dataset.kind);
}

/** One more (delta 1) or one fewer (-1) call fetching data: "Loading data…" while any runs. */
export function dataBusy(delta) {
  stage.busy += delta;
  if (!run.info) return;
  if (stage.waitingForPython) setStage(STAGES.later, "busy");
  else setStage(stage.busy > 0 ? "Loading data…" : "Ready", stage.busy > 0 ? "busy" : "ready");
}
