"""Why a query matched nothing, in words: each condition's own count and the columns' ranges.

"0 templates" alone leaves a user guessing which part of ``amplitude_uv > 500 and
brain_area == 'CA3'`` is wrong. :func:`explain_empty` splits the query at its top-level
``and``, counts each condition on its own, and says what each queried column holds in the
library: a number column's finite range in the unit the query uses (the stored one: seconds
stay seconds here, since that is what the query compares), a text column's most common values.

Bounds: at most :data:`MAX_CONDITIONS` conditions are counted and :data:`MAX_COLUMNS` columns
described, text values are quoted at most ``dataset_checks.MAX_QUOTED`` characters long, and
the query is the already checked one (``safe_query.check_expression``), so nothing here
evaluates anything the query itself could not.
"""

from __future__ import annotations

import ast

from .column_query import evaluate
from .dataset_checks import quoted
from .safe_query import check_expression
from .units import number_text, stored_unit

MAX_CONDITIONS = 8
MAX_COLUMNS = 6
#: Most common values named for a text column.
MAX_VALUES = 4


def _conditions(tree: ast.Expression) -> list[ast.expr]:
    body = tree.body
    if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And):
        return list(body.values)
    return [body]


def _columns(tree: ast.Expression, known) -> list[str]:
    seen: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in known and node.id not in seen:
            seen.append(node.id)
    return seen


def _describe_column(table, name: str) -> str:
    if table.is_text(name):
        counts = table.value_counts(name)
        common = ", ".join(quoted(value) for value, _ in counts[:MAX_VALUES])
        more = f" and {len(counts) - MAX_VALUES} more" if len(counts) > MAX_VALUES else ""
        return f"{name} takes {len(counts)} values: {common}{more}" if counts else f"{name} is empty"
    span = table.finite_range(name)
    if span is None:
        return f"{name} has no finite value"
    unit = stored_unit(name) or ""
    unit = f" {unit}" if unit and unit not in ("count", "ratio") else ""
    return f"{name} spans {number_text(span[0])} to {number_text(span[1])}{unit}"


def explain_empty(table, expression: str, columns) -> dict:
    """Why ``expression`` matches no row of ``table``.

    Parameters
    ----------
    table : ColumnTable
        The catalogue.
    expression : str
        The query that matched nothing.
    columns : collection of str
        The columns a query may name (as given to :func:`column_query.evaluate`).

    Returns
    -------
    dict
        ``conditions``: ``[{"condition", "count"}]`` for each top-level ``and`` part;
        ``columns``: one sentence per queried column; ``text``: both as one paragraph.
    """
    tree = check_expression(expression, columns, table.text_columns())
    parts = _conditions(tree)
    conditions = []
    for node in parts[:MAX_CONDITIONS]:
        condition = ast.unparse(node)
        conditions.append({"condition": condition, "count": int(len(evaluate(table, condition, columns)))})
    described = [_describe_column(table, name) for name in _columns(tree, set(columns))[:MAX_COLUMNS]]
    if len(parts) > 1:
        alone = "; ".join(f"{c['condition']} alone matches {c['count']}" for c in conditions)
        lead = f"No template meets all {len(parts)} conditions together ({alone})."
    else:
        lead = "No template matches this condition."
    text = lead + (" In this library, " + "; ".join(described) + "." if described else "")
    return {"conditions": conditions, "columns": described, "text": text}
