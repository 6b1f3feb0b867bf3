"""JSON Schema of ``library.json`` (``docs/format.md``), as a dict so no data file must be packaged.

The schema pins the members readers rely on and allows any other top-level member: the
manifest grows (``previews``, ``provenance``) and older validators must not reject a newer
library for it. Members of a dataset entry are closed to the listed types but may also be
extended. Checks the schema cannot express (``template_count`` equals the csv's rows, the csv's
sha256) are the validator's.
"""

from __future__ import annotations

_NON_NEGATIVE_INT = {"type": "integer", "minimum": 0}

DATASET_SCHEMA = {
    "type": "object",
    "required": ["units", "shape", "dtype", "sampling_frequency", "nbefore", "probe_model"],
    "properties": {
        "units": _NON_NEGATIVE_INT,
        "shape": {"type": "array", "items": _NON_NEGATIVE_INT, "minItems": 3, "maxItems": 3},
        "dtype": {"type": "string"},
        "sampling_frequency": {"type": "number", "exclusiveMinimum": 0},
        "nbefore": _NON_NEGATIVE_INT,
        "probe_model": {"type": "string"},
    },
}

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$", "minLength": 64, "maxLength": 64}

#: ``catalogue_compact``: the compact catalogue (optional; docs/format.md).
COMPACT_SCHEMA = {
    "type": "object",
    "required": ["file", "format_version", "sha256", "bytes", "rows", "templates_csv_sha256"],
    "properties": {
        "file": {"const": "catalogue.htlc"},
        "format_version": {"type": "integer"},
        "sha256": _SHA256,
        "bytes": _NON_NEGATIVE_INT,
        "rows": _NON_NEGATIVE_INT,
        "templates_csv_sha256": _SHA256,
    },
}

LIBRARY_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "library.json",
    "type": "object",
    "required": [
        "format_version",
        "zarr_format",
        "created",
        "templates_csv_sha256",
        "template_count",
        "datasets",
    ],
    "properties": {
        "format_version": {"type": "integer"},
        "zarr_format": {"const": 2},
        "created": {"type": "string"},
        # the lengths also refuse a trailing newline, which Python's "$" would let through
        "templates_csv_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$", "minLength": 64, "maxLength": 64},
        "template_count": _NON_NEGATIVE_INT,
        "datasets": {"type": "object", "additionalProperties": DATASET_SCHEMA},
        "catalogue_compact": COMPACT_SCHEMA,
    },
    # previews, provenance and later additions are not ours to check here
    "additionalProperties": True,
}
