// Download templates (templatelib.download): plan first (its size, asking above the limit
// Python sets), then short worker calls that fetch the templates (progress), then the files;
// the files are saved only once every one is complete, and any error saves none.
import { call, run, state } from "./state.js";
import { $ } from "./status.js";
import { describeError } from "./words.js";

const mb = (n) => (n / (1024 * 1024)).toFixed(1) + " MB";
function bytesOf(b64) {
  const text = atob(b64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}
async function downloadTemplates() {
  const status = $("download-status"), button = $("download-templates"), list = $("download-files");
  $("download-error").textContent = "";
  $("download-confirm").hidden = true;
  if (run.info === null) return;
  if (!state.sel.length) { $("download-error").textContent = "Select templates first: the download holds the selection."; return; }
  for (const url of run.download.fileUrls) URL.revokeObjectURL(url);
  run.download.fileUrls = [];
  list.textContent = ""; list.hidden = true;
  button.disabled = true; button.setAttribute("aria-busy", "true");
  try {
    status.textContent = "Checking the selection…";
    const plan = await call("download_plan", { template_ids: state.sel });
    const size = mb(plan.fetch_bytes);
    if (plan.confirm && plan.fetch_bytes > run.download.confirmedBytes) {
      $("download-confirm-text").textContent = "This download fetches " + plan.templates + " templates, up to " +
        size + ", into " + plan.files.length + " file(s).";
      $("download-go").textContent = "Fetch " + size + " and download";
      $("download-go").onclick = () => { run.download.confirmedBytes = plan.fetch_bytes; downloadTemplates(); };
      $("download-confirm").hidden = false;
      status.textContent = "";
      return;
    }
    run.download.confirmedBytes = 0;
    let progress = { done: 0, complete: false };
    while (!progress.complete) {
      status.textContent = "Fetching templates: " + progress.done + " of " + plan.templates + " (up to " + size + ")…";
      progress = await call("download_step", { job: plan.job });
    }
    const files = [];
    for (let k = 0; k < plan.files.length; k++) {
      const parts = [];
      let part = { next_offset: 0 };
      while (part.next_offset !== null) {
        status.textContent = "Writing file " + (k + 1) + " of " + plan.files.length + "…" +
          (part.bytes ? " " + mb(part.next_offset) + " of " + mb(part.bytes) : "");
        part = await call("download_file", { job: plan.job, index: k, offset: part.next_offset });
        parts.push(bytesOf(part.bytes_b64));
      }
      files.push({ ...part, blob: new Blob(parts, { type: "application/zip" }) });
    }
    for (const file of files) {
      const url = URL.createObjectURL(file.blob);
      run.download.fileUrls.push(url);
      const a = document.createElement("a");
      a.href = url; a.download = file.name;
      a.textContent = file.name + " (" + file.templates + " template(s), " + (file.probe || "no probe name") + ", " + mb(file.bytes) + ")";
      const li = document.createElement("li");
      li.append(a);
      list.append(li);
      a.click();
    }
    list.hidden = false;
    status.textContent = "Downloaded " + plan.templates + " template(s) in " + files.length + " file(s).";
  } catch (error) {
    status.textContent = "";
    $("download-error").textContent = "Download templates: " + describeError(error) + " No file was saved.";
  } finally {
    button.disabled = false; button.removeAttribute("aria-busy");
  }
}

/** The Download templates button and its confirmation. */
export function bindDownload() {
  $("download-templates").addEventListener("click", () => { run.download.confirmedBytes = 0; downloadTemplates(); });
  $("download-cancel").addEventListener("click", () => { $("download-confirm").hidden = true; });
}
