"""How long single calls wait while the worker installs numpy, zarr and pandas.

Not a test (timings are noisy here). After "N templates" the worker installs and imports the
rest of Python in the background, on the one thread that also answers calls; this sends a
query every 15 ms for 8 s through the page's own worker client and prints every call that
took more than 20 ms, beside the page's stage marks (``htl-py-arrays``: numpy, ``-view``:
zarr, ``-full``: pandas).

    PYTHONPATH=site_src:. .venv/bin/python tests/benchmarks/busy_worker.py LIBRARY [--rounds 2]

LIBRARY: a library folder, e.g. one grown by ``grow_library.py`` to 100,000 rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from page_speed import CHROMIUM, CHROMIUM_ARGS, MARKS_JS, Server, build_measured_site, wait_mark  # noqa: E402

PROBE = """async () => {
    const call = window.__htl.call, out = [], t0 = performance.now();
    while (performance.now() - t0 < 8000) {
        const start = performance.now();
        await call("query", {expression: "brain_area != 'CA1' and amplitude_uv > 60", offset: 0, limit: 25});
        out.push([Math.round(start), Math.round(performance.now() - start)]);
        await new Promise((resolve) => setTimeout(resolve, 15));
    }
    return out;
}"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        site, data = Server(build_measured_site(tmp / "site")), Server(Path(args.library), site=False)
        url = f"{site.url}/?source={urllib.parse.quote(data.url + '/', safe='')}"
        with sync_playwright() as p:
            for run in range(args.rounds):
                context = p.chromium.launch_persistent_context(str(tmp / f"profile-{run}"), executable_path=CHROMIUM,
                                                               args=CHROMIUM_ARGS, headless=True)
                page = context.new_page()
                page.goto(url)
                wait_mark(page, ["htl-catalogue-queryable"], timeout=120_000)
                calls = page.evaluate(PROBE)
                marks = page.evaluate(MARKS_JS)
                context.close()
                stages = {k: round(v * 1000) for k, v in marks.items() if k.startswith(("htl-py-", "htl-catalogue-"))}
                print(f"round {run + 1}: stages (ms) {stages}")
                slow = [f"at {start} ms: {took} ms" for start, took in calls if took > 20]
                print(f"  {len(calls)} calls, {len(slow)} over 20 ms: " + ("; ".join(slow) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
