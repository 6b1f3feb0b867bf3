"""The page's Python: reads a template library over HTTP, queries it and draws it.

Light on purpose (numpy, pandas, zarr only) because it runs in Pyodide inside the page's
Web Worker; the CPython test suite imports the same modules. ``format`` is the data
contract that the pipeline's writer shares.
"""
