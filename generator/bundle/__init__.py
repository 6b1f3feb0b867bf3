"""The offline Pyodide runtime: assembled from package registries, hosted by a site.

``assemble`` builds the bundle (``python -m generator pyodide-bundle``) from the jobs beside
it (``fetch``, ``wheels``, ``lock``, ``pycompile``, ``blosc``); ``pin`` holds the Pyodide
version everything must match; ``site_runtime`` copies the part of it a site's page loads.
"""
