"""The one Pyodide version the site, the offline bundle and the tests use.

Pinned to 0.27.7 because it is the only release with both halves of the story: its
numpy/pandas/matplotlib wheels are byte-identical (sha256) to the ones the offline bundle
takes from a registry package, so the local build runs the very code the CDN build runs;
and its CDN distribution ships zarr 2.18.3 + numcodecs 0.13.1 with real Blosc, which decode
the live library's Blosc-compressed chunks. Change it only together with the offline bundle
recipe in ``generator/bundle/assemble.py`` and ``generator/bundle/fetch.py`` (its source hashes
are specific to this version).
"""

PYODIDE_VERSION = "0.27.7"
PYODIDE_CDN_URL = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
