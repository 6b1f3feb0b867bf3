"""Builds and serves the static site: jinja2 pages, assets, the page's Python, Pyodide, docs."""
