"""Fetch objects of a library over HTTP, a bounded number at a time, with errors in words.

Two transports share one interface (``async fetch(url) -> bytes``): ``pyfetch`` in the
browser and ``urllib`` in CPython (tests, benchmarks). ``Fetcher.fetch_many`` runs at most
``limit`` requests at once: ~16 is what browsers sustain; far more hits
``ERR_INSUFFICIENT_RESOURCES``.
"""

from __future__ import annotations

import asyncio
import sys

IN_BROWSER = sys.platform == "emscripten"
DEFAULT_CONCURRENCY = 16
LOCAL_SERVER_HINT = "python -m generator serve-data ROOT"


class FetchError(OSError):
    """A request failed. ``kind`` is one of ``unreachable``, ``missing``, ``http``.

    Browsers hide why a cross-origin request failed: an unreachable host and a server that
    refuses CORS look the same to the page, so ``unreachable`` names both causes.
    """

    def __init__(self, kind: str, url: str, message: str, status: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.url = url
        self.status = status

    def as_dict(self) -> dict:
        return {"kind": self.kind, "url": self.url, "status": self.status, "message": str(self)}


def _status_error(url: str, status: int) -> FetchError:
    if status in (403, 404):
        # S3 answers 403, not 404, for a missing key in a bucket that forbids listing.
        return FetchError("missing", url, f"{url} was not found (HTTP {status})", status)
    return FetchError("http", url, f"{url} answered HTTP {status}", status)


def _unreachable(url: str, reason: str) -> FetchError:
    return FetchError(
        "unreachable",
        url,
        f"Could not read {url}: {reason}. The source is unreachable, or it does not allow "
        f"cross-origin (CORS) requests from this page. For a local library start a CORS server "
        f"with `{LOCAL_SERVER_HINT}` and open this page with ?source=http://127.0.0.1:8000/",
    )


async def browser_fetch(url: str) -> bytes:
    """GET ``url`` with the browser's fetch (Pyodide)."""
    from pyodide.http import pyfetch

    try:
        response = await pyfetch(url)
    except Exception as error:  # JS TypeError "Failed to fetch" arrives as a JsException/OSError
        raise _unreachable(url, str(error) or type(error).__name__) from None
    if not response.ok:
        raise _status_error(url, response.status)
    return await response.bytes()


def _urllib_get(url: str, timeout: float) -> bytes:
    # Imported here: urllib.request costs ~0.13 s of the browser's boot, which never uses it.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise _status_error(url, error.code) from None
    except (urllib.error.URLError, OSError) as error:
        raise _unreachable(url, str(getattr(error, "reason", error))) from None


async def urllib_fetch(url: str, timeout: float = 30.0) -> bytes:
    """GET ``url`` with urllib in a thread (CPython)."""
    return await asyncio.to_thread(_urllib_get, url, timeout)


class Fetcher:
    """Bounded-concurrency GETs with request and byte counters.

    Parameters
    ----------
    transport : async callable, optional
        ``url -> bytes``; the browser's fetch in Pyodide, urllib elsewhere.
    limit : int
        Most requests in flight at once.
    """

    def __init__(self, transport=None, limit: int = DEFAULT_CONCURRENCY):
        self.transport = transport or (browser_fetch if IN_BROWSER else urllib_fetch)
        self.limit = limit
        self.requests = 0
        self.bytes = 0
        self._semaphore = None

    async def fetch(self, url: str) -> bytes:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)
        async with self._semaphore:
            self.requests += 1
            data = await self.transport(url)
        self.bytes += len(data)
        return data

    async def fetch_many(self, urls) -> dict[str, bytes]:
        """Fetch every URL concurrently; the first failure is raised after all settle."""
        urls = list(dict.fromkeys(urls))
        results = await asyncio.gather(*(self.fetch(u) for u in urls), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return dict(zip(urls, results))
