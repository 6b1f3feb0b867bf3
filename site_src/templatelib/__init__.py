"""The page's Python: reads a template library over HTTP, queries it and draws it.

Light on purpose (numpy, pandas, zarr only) because it runs in Pyodide inside the page's
Web Worker; the CPython test suite imports the same modules.

Two kinds of module live here. The *shared core* (:data:`SHARED_WITH_PIPELINE`) is the data
contract the pipeline writes and checks with as much as the page reads with: the format,
chunk decoding, previews, citations, the dataset checks, units, the library.json schema and
the two forms of the catalogue. ``tests/test_layout.py`` holds the line: the pipeline imports
only these, and they import nothing else of the package. Every other module is the page's
own (the worker's API, queries, views, downloads, find-by-example).
"""

#: What ``pipeline/`` may import from here; these import only each other.
SHARED_WITH_PIPELINE = (
    "format",
    "chunk_decode",
    "preview",
    "citations",
    "dataset_checks",
    "units",
    "library_schema",
    "catalogue",
    "compact_catalogue",
    "column_table",
    "column_arrays",
)
