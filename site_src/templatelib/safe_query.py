"""Run a user's ``DataFrame.query`` expression, allowing only what a filter needs.

A ``?q=`` arrives from shared links, and pandas' ``query`` evaluates Python expressions:
``@`` reaches local variables, attribute access reaches dunders and, in Pyodide, ``js``.
So the expression is parsed with :mod:`ast` first and rejected unless every node is on the
allow-list: column names, literals, comparisons, boolean and arithmetic operators, and a few
methods on a column (``brain_area.str.startswith('CA')``, ``noise_level_uv.isna()``).
"""

from __future__ import annotations

import ast

import pandas as pd

MAX_LENGTH = 2000
MAX_NODES = 400

_OPERATORS = (
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Invert,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.FloorDiv, ast.Pow,
    ast.BitAnd, ast.BitOr,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
)
_STRUCTURE = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Load,
    ast.List, ast.Tuple,
)
#: ``column.str.<method>(literals)``
STR_METHODS = frozenset({"contains", "startswith", "endswith", "match", "fullmatch", "lower", "upper", "len"})
#: ``column.<method>()``
COLUMN_METHODS = frozenset({"isna", "notna"})
#: Keyword arguments the string methods may take (all literal).
KEYWORDS = frozenset({"case", "na", "regex"})


class QueryError(ValueError):
    """The expression is not allowed or not valid; the message explains it in words."""


def _literal(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool, type(None)))


def _column_method(node: ast.Call, columns) -> None:
    func = node.func
    if not isinstance(func, ast.Attribute):
        raise QueryError("only methods of a column may be called, e.g. brain_area.str.startswith('CA')")
    owner = func.value
    if isinstance(owner, ast.Attribute) and owner.attr == "str" and isinstance(owner.value, ast.Name):
        name, allowed = owner.value.id, STR_METHODS
    elif isinstance(owner, ast.Name):
        name, allowed = owner.id, COLUMN_METHODS
    else:
        raise QueryError("only column.str.<method>(...) and column.isna()/notna() may be called")
    if name not in columns:
        raise QueryError(f"unknown column '{name}'")
    if func.attr not in allowed:
        raise QueryError(f"method '{func.attr}' is not allowed here; use one of {', '.join(sorted(allowed))}")
    for arg in node.args:
        if not _literal(arg):
            raise QueryError("method arguments must be literal strings or numbers")
    for keyword in node.keywords:
        if keyword.arg not in KEYWORDS or not _literal(keyword.value):
            raise QueryError(f"keyword '{keyword.arg}' is not allowed here")


def check_expression(expression: str, columns) -> ast.Expression:
    """Parse ``expression`` and raise :class:`QueryError` unless every part is allowed.

    Parameters
    ----------
    expression : str
        A pandas query expression.
    columns : collection of str
        The names it may refer to.
    """
    if len(expression) > MAX_LENGTH:
        raise QueryError(f"the query is longer than {MAX_LENGTH} characters")
    if "@" in expression:
        raise QueryError("'@' (local variables) is not allowed in a query")
    if "`" in expression:
        raise QueryError("backtick-quoted names are not allowed; the catalogue's columns need none")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise QueryError(f"syntax error at column {error.offset}: {error.msg}") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise QueryError("the query is too complex")
    method_parts = set()
    for node in nodes:
        if isinstance(node, ast.Call):
            _column_method(node, columns)  # checked whole: mark its call/attribute/name parts done
            owner = node.func.value
            column = owner if isinstance(owner, ast.Name) else owner.value
            method_parts.update({id(node), id(node.func), id(owner), id(column)})
            method_parts.update(id(k) for k in node.keywords)
    for node in nodes:
        if id(node) in method_parts or isinstance(node, _STRUCTURE + _OPERATORS) or _literal(node):
            continue
        if isinstance(node, ast.Name):
            if node.id not in columns:
                raise QueryError(f"unknown column '{node.id}'; columns: {', '.join(columns)}")
            continue
        if isinstance(node, ast.Attribute):
            raise QueryError(f"attribute access ('.{node.attr}') is not allowed here")
        if isinstance(node, ast.Constant):
            raise QueryError("only string, number, True/False/None literals are allowed")
        raise QueryError(f"'{type(node).__name__}' is not allowed in a query")
    return tree


def run_query(table: pd.DataFrame, expression: str, columns=None) -> pd.DataFrame:
    """Rows of ``table`` matching ``expression`` (all rows for an empty expression).

    Raises
    ------
    QueryError
        When the expression is not allowed, or pandas cannot evaluate it.
    """
    expression = (expression or "").strip()
    if not expression:
        return table
    allowed = list(columns if columns is not None else table.columns)
    check_expression(expression, allowed)
    try:
        # engine="python": numexpr is not in Pyodide, and the checked tree needs no more.
        result = table.query(expression, engine="python")
    except Exception as error:  # pandas raises many types; the user needs the words
        raise QueryError(f"{type(error).__name__}: {error}") from None
    if not isinstance(result, pd.DataFrame):
        raise QueryError("the query must be a condition on rows, e.g. amplitude_uv > 100")
    return result
