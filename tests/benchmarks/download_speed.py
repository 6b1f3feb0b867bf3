"""Download templates in headless Chromium: how long a large selection takes, and its slowest call.

Not a test (timings are noisy here): run it and read the figures.

    PYTHONPATH=$PWD/site_src:$PWD .venv/bin/python tests/benchmarks/download_speed.py [--units 40]

It builds a Blosc library of 3 datasets (two Neuropixels 1.0, one NP-Ultra-like, 384 channels)
with ``--units`` units each, selects every template, clicks "Download templates", accepts the
size step, and reports the time from the click to the last saved file, the slowest worker call
(each must stay inside the page's 8 s call limit), the file sizes, and that spikeinterface
opens them.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import RunningServer, build_library, start_data_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]

# Times every worker call from the page (wraps the client's call; the page is not changed).
TIMING = """
(() => {
  const calls = [];
  window.__calls = calls;
  const proto = Object.getPrototypeOf(window.__htl.client);
  const original = proto.call;
  proto.call = function (method, args) {
    const start = performance.now();
    const done = (r) => { calls.push([method, performance.now() - start]); return r; };
    return original.call(this, method, args).then(done, (e) => { done(); throw e; });
  };
})();
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=40)
    options = parser.parse_args()
    import pandas as pd
    from playwright.sync_api import expect, sync_playwright
    from spikeinterface.core import Templates

    from generator.build import build_site
    from generator.data_server import make_server

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        library = build_library(tmp / "lib", datasets=3, units=options.units, seed=11)
        site_dir = build_site(tmp / "_site", pyodide="local", docs=False, catalogue=f"{library.path}/templates.csv")
        ids = list(pd.read_csv(f"{library.path}/templates.csv", dtype={"template_id": str})["template_id"])
        with RunningServer(make_server(site_dir, "127.0.0.1", 0, cors=False, index=True)) as site, \
                start_data_server(library.path) as data, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_context(accept_downloads=True).new_page()
            page.add_init_script("window.addEventListener('DOMContentLoaded', () => {" + TIMING + "});")
            page.goto(f"{site.url}/?" + urllib.parse.urlencode({"source": data.url + "/", "sel": ",".join(ids)}))
            expect(page.get_by_role("status").filter(has_text=re.compile("^Ready$"))).to_be_visible(timeout=120_000)
            downloads = []
            page.on("download", lambda d: downloads.append(d))
            page.get_by_role("button", name="Download templates").click()
            confirm = page.get_by_role("group", name="Confirm download")
            expect(confirm).to_be_visible(timeout=30_000)
            print("asks:", confirm.inner_text().replace("\n", " | "))
            start = time.perf_counter()
            confirm.get_by_role("button", name=re.compile("^Fetch")).click()
            page.wait_for_function("() => document.querySelectorAll('#download-files a').length > 0 || "
                                   "document.getElementById('download-error').textContent", timeout=300_000)
            error = page.locator("#download-error").inner_text()
            if error:
                raise SystemExit(error + " | " + page.locator("#stopped").inner_text())
            elapsed = time.perf_counter() - start
            page.wait_for_timeout(1000)
            calls = page.evaluate("window.__calls.filter(c => c[0].startsWith('download_'))")
            paths = []
            for download in downloads:
                path = tmp / download.suggested_filename
                download.save_as(path)
                paths.append(path)
            browser.close()
        print(f"{len(ids)} templates: {elapsed:.1f} s from confirm to saved files")
        for name in ("download_plan", "download_step", "download_file"):
            times = [t for m, t in calls if m == name]
            if times:
                print(f"  {name}: {len(times)} call(s), slowest {max(times) / 1000:.2f} s: "
                      + " ".join(f"{t / 1000:.2f}" for t in times))
        for path in paths:
            opened = Templates.from_zarr(str(path))
            print(f"  {path.name}: {path.stat().st_size / 1e6:.1f} MB, {opened.num_units} units, opens in spikeinterface")


if __name__ == "__main__":
    main()
