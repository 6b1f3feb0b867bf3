"""``pipeline validate``: a library checked against ``docs/format.md``, every problem one line.

``library`` walks the datasets and then the catalogue; ``chunks`` reads array metadata and
chunks through the bounded decoder; ``catalogue`` checks ``templates.csv``, ``library.json``,
the previews and the compact catalogue against the datasets. The checks a dataset's metadata
shares with the page's reader are :mod:`templatelib.dataset_checks`.
"""

from .library import dataset_problems, validate_library

__all__ = ["dataset_problems", "validate_library"]
