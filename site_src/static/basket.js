// The Selection section (the basket): the selected templates grouped by probe, the Python
// snippet, Copy link, Download CSV, Download templates and Cite. Loaded before app.js, which
// hands it the app (state, worker calls, template view) through HTL.makeBasket. Every string
// from the catalogue goes through textContent, never innerHTML.
"use strict";

(function (HTL) {
  HTL.makeBasket = function (app) {
    const $ = (id) => document.getElementById(id);
    const { state, call } = app;
    let citeShown = false;

    function toggleSelection(templateId, on) {
      const at = state.sel.indexOf(templateId);
      if (on && at < 0) state.sel.push(templateId);
      if (!on && at >= 0) state.sel.splice(at, 1);
      for (const box of document.querySelectorAll("#rows input[type=checkbox]")) {
        if (box.getAttribute("aria-label") === "Select " + templateId) box.checked = on;
      }
      app.writeURL();
      refresh();
    }

    function item(id) {
      const li = document.createElement("li");
      const name = document.createElement("button");
      name.type = "button"; name.className = "link"; name.textContent = id;
      name.addEventListener("click", () => app.openView(id));
      const remove = document.createElement("button");
      remove.type = "button"; remove.textContent = "Remove"; remove.setAttribute("aria-label", "Remove " + id);
      remove.addEventListener("click", () => toggleSelection(id, false));
      li.append(name, " ", remove);
      return li;
    }

    // One heading per probe: a Templates object holds one probe, so the snippet returns one
    // Templates per group, in this order.
    function renderGroups(groups) {
      const list = $("basket-list");
      list.textContent = "";
      groups.forEach((group, k) => {
        const head = document.createElement("h3");
        head.className = "basket-probe";
        head.textContent = (group.probe || "(no probe name)") + " · " + group.template_ids.length +
          " template(s) · templates_by_probe[" + k + "]";
        const ol = document.createElement("ol");
        ol.setAttribute("aria-label", group.probe || "(no probe name)");
        for (const id of group.template_ids) ol.append(item(id));
        list.append(head, ol);
      });
    }

    async function refresh() {
      $("basket-count").textContent = "(" + state.sel.length + ")";
      if (!app.isReady()) return;
      if (state.sel.length) {
        const known = await call("known_ids", { template_ids: state.sel });
        if (known.length !== state.sel.length) {
          $("basket-note").textContent = (state.sel.length - known.length) + " selected template(s) are not in this catalogue and were dropped.";
          state.sel = known;
          app.writeURL();
        }
      }
      $("basket-count").textContent = "(" + state.sel.length + ")";
      renderGroups(state.sel.length ? await call("basket_groups", { template_ids: state.sel }) : []);
      $("snippet").textContent = await call("snippet", { template_ids: state.sel });
      if (citeShown) await cite();
    }

    function showCitation(result) {
      const text = $("citation-text");
      text.textContent = "";
      for (const paragraph of result.text.split("\n\n")) {
        const p = document.createElement("p");
        p.textContent = paragraph;
        text.append(p);
      }
      $("citation-bibtex").textContent = result.bibtex;
      $("citation").hidden = false;
    }

    async function cite() {
      citeShown = true;
      try {
        showCitation(await call("cite", { template_ids: state.sel }));
      } catch (error) {
        $("basket-note").textContent = "Citation: " + app.describeError(error);
      }
    }

    async function copyText(text, what) {
      try {
        await navigator.clipboard.writeText(text);
        $("basket-note").textContent = what + " copied.";
      } catch (e) {
        $("basket-note").textContent = "Copying is blocked here: select the text and copy it by hand.";
      }
    }

    $("clear-basket").addEventListener("click", () => {
      state.sel = [];
      for (const box of document.querySelectorAll("#rows input[type=checkbox]")) box.checked = false;
      app.writeURL();
      refresh();
    });
    $("copy-snippet").addEventListener("click", () => copyText($("snippet").textContent, "Code"));
    $("copy-link").addEventListener("click", () => copyText(location.href, "Link"));
    $("cite").addEventListener("click", () => { if (app.isReady()) cite(); });
    $("copy-citation").addEventListener("click", () => copyText($("citation-bibtex").textContent, "BibTeX"));
    $("download-csv").addEventListener("click", async () => {
      const csv = await call("selection_csv", { template_ids: state.sel });
      const url = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = "hybrid_templates_selection.csv";
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    });

    // Download templates (templatelib.download): plan first (its size, asking above the limit
    // Python sets), then short worker calls that fetch the templates (progress), then the files;
    // the files are saved only once every one is complete, and any error saves none.
    let confirmedBytes = 0;
    let fileUrls = [];
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
      if (!app.isReady()) return;
      if (!state.sel.length) { $("download-error").textContent = "Select templates first: the download holds the selection."; return; }
      for (const url of fileUrls) URL.revokeObjectURL(url);
      fileUrls = [];
      list.textContent = ""; list.hidden = true;
      button.disabled = true; button.setAttribute("aria-busy", "true");
      try {
        status.textContent = "Checking the selection…";
        const plan = await call("download_plan", { template_ids: state.sel });
        const size = mb(plan.fetch_bytes);
        if (plan.confirm && plan.fetch_bytes > confirmedBytes) {
          $("download-confirm-text").textContent = "This download fetches " + plan.templates + " templates, up to " +
            size + ", into " + plan.files.length + " file(s).";
          $("download-go").textContent = "Fetch " + size + " and download";
          $("download-go").onclick = () => { confirmedBytes = plan.fetch_bytes; downloadTemplates(); };
          $("download-confirm").hidden = false;
          status.textContent = "";
          return;
        }
        confirmedBytes = 0;
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
          fileUrls.push(url);
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
        $("download-error").textContent = "Download templates: " + app.describeError(error) + " No file was saved.";
      } finally {
        button.disabled = false; button.removeAttribute("aria-busy");
      }
    }
    $("download-templates").addEventListener("click", () => { confirmedBytes = 0; downloadTemplates(); });
    $("download-cancel").addEventListener("click", () => { $("download-confirm").hidden = true; });

    return { toggleSelection, refresh };
  };
})(self.HTL = self.HTL || {});
