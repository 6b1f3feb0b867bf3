"""Answer the page's query on typed columns, row for row as pandas' ``DataFrame.query`` would.

pandas costs 7 MB and about a second to import in Pyodide, so the first query is answered on
the :class:`~templatelib.column_table.ColumnTable` instead. The expression is allow-listed by
:func:`safe_query.check_expression` (the same rules, the same words), then the tree is walked
with the table's array backend (:mod:`column_arrays`: the standard library's ``array`` until
numpy has loaded, then numpy; arithmetic on columns waits for numpy:
:class:`~templatelib.column_arrays.NeedsNumpy`). What this module accepts, it answers exactly as
``safe_query.run_query(table.to_pandas(), expression)`` does; what it cannot answer exactly, it
refuses in words (``tests/test_column_query.py`` compares the two on generated queries).

What pandas' ``query(engine="python")`` does, and this module with it:

- ``&`` and ``|`` are read as ``and`` and ``or`` *before* parsing, so they bind loosely:
  ``a > 1 & b < 2`` is ``(a > 1) and (b < 2)``; ``not`` and ``~`` invert a condition;
- comparisons follow numpy (NaN compares False, except ``!=``), chains are ``and``-ed pairs;
- ``x in [...]`` is ``Series.isin``: exact equality of values (``1 == 1.0``), never NaN;
- ``//`` and ``%`` by zero give ``±inf``/NaN as pandas fills them (not numpy's 0);
- two constants are combined by Python itself (``10**30``, ``2**-1``; ``1/0`` is an error);
- text compares as Python strings; string methods run once per distinct value (:mod:`query_text`).

Refused, though pandas answers some of them oddly: comparing text with a number, two constants
with each other, arithmetic or ordering on conditions, lists anywhere but after ``in``, lists
mixing types, and whole numbers beyond ``2**53`` in a list (pandas versions disagree on those).
"""

from __future__ import annotations

import ast
import io
import operator
import tokenize

from . import safe_query
from .column_arrays import array_kind
from .column_table import ColumnTable, TextColumn, known_columns
from .query_text import per_category, string_method
from .safe_query import QueryError

_ARITHMETIC = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_SYMBOL = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
#: Largest whole number a list may hold: beyond it pandas versions compare as floats or exactly.
MAX_EXACT_INTEGER = 2**53
_CONDITION_WORDS = "the query must be a condition on rows, e.g. amplitude_uv > 100"


def evaluate(table: ColumnTable, expression: str, columns=None):
    """Rows of ``table`` matching ``expression``, as ascending row indices (csv order): numpy
    ``int64`` on a numpy table, else a ``range`` or ``list`` of ``int``.

    Parameters
    ----------
    table : ColumnTable
        The catalogue.
    expression : str
        A query in pandas' syntax; empty or blank selects every row.
    columns : collection of str, optional
        The names the query may use (default: the format's columns the table has).

    Raises
    ------
    QueryError
        When the expression is not allowed, not answerable exactly, or fails (in words).
    column_arrays.NeedsNumpy
        When the table is not on numpy yet and the query does arithmetic on a column.
    """
    expression = (expression or "").strip()
    if not expression:
        return table.backend.all_rows(len(table))
    allowed = list(columns if columns is not None else known_columns(table.names))
    text = [c for c in allowed if c in table and table.is_text(c)]
    safe_query.check_expression(expression, allowed, text)
    tree = _pandas_tree(safe_query._single_line(expression))
    try:
        with table.backend.errstate():
            mask = _Walker(table, set(allowed)).value(tree.body)
    except RecursionError:
        raise QueryError("the query is nested too deeply") from None
    if array_kind(mask) != "b":
        raise QueryError(_CONDITION_WORDS)
    return table.backend.nonzero(mask)


def _pandas_tree(expression: str) -> ast.Expression:
    """``expression`` parsed as pandas parses it: ``&``/``|`` turned into ``and``/``or`` tokens first.

    The tokens are those of the expression ``check_expression`` allowed; only the grouping of
    conditions changes, so the walker sees the same names, literals and calls.
    """
    if "&" in expression or "|" in expression:
        try:
            tokens = [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(expression).readline)]
        except (tokenize.TokenError, SyntaxError) as error:
            raise QueryError(f"syntax error: {error.args[0]}") from None
        swap = {"&": "and", "|": "or"}
        expression = tokenize.untokenize(
            (tokenize.NAME, swap[s]) if kind == tokenize.OP and s in swap else (kind, s) for kind, s in tokens)
    try:
        return ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise QueryError(f"syntax error at column {error.offset}: {error.msg}") from None


def _is_bool(value) -> bool:
    return isinstance(value, bool) or array_kind(value) == "b"


def _is_number(value) -> bool:
    """An int or float scalar, or a numeric (not boolean) column."""
    kind = array_kind(value)
    if kind is not None:
        return kind in "if"
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_rows(value) -> bool:
    return isinstance(value, TextColumn) or array_kind(value) is not None


def _describe(value) -> str:
    if isinstance(value, TextColumn) or isinstance(value, str):
        return "text"
    if _is_bool(value):
        return "a condition" if array_kind(value) else f"{value}"
    if value is None:
        return "None"
    return "numbers" if array_kind(value) else "a number"


def _floordiv_zeros(numerator, denominator, result):
    """pandas' ``mask_zero_div_zero``: ``x // 0`` is ``+inf``/``-inf`` by the sign of x, ``0 // 0`` NaN."""
    import numpy as np

    numerator, denominator = np.asarray(numerator), np.asarray(denominator)
    zero = denominator == 0
    if not zero.any():
        return result
    negative_zero = zero & np.signbit(denominator)
    positive_zero = zero & ~negative_zero
    below, above = numerator < 0, numerator > 0
    nan = zero & (numerator == 0)
    minus = (positive_zero & below) | (negative_zero & above)
    plus = (positive_zero & above) | (negative_zero & below)
    if nan.any() or minus.any() or plus.any():
        result = result.astype(np.float64)
        result[np.broadcast_to(nan, result.shape)] = np.nan
        result[np.broadcast_to(plus, result.shape)] = np.inf
        result[np.broadcast_to(minus, result.shape)] = -np.inf
    return result


def _mod_zeros(denominator, result):
    """pandas' ``_fill_zeros``: an integer ``x % 0`` is NaN (numpy says 0)."""
    import numpy as np

    if result.dtype.kind == "f":
        return result
    denominator = np.asarray(denominator)
    if denominator.dtype.kind in "iu" and (denominator == 0).any():
        result = result.astype(np.float64)
        result[np.broadcast_to(denominator == 0, result.shape)] = np.nan
    return result


class _Walker:
    """Values of the nodes: the backend's arrays (numbers, conditions), TextColumn, or Python scalars."""

    def __init__(self, table: ColumnTable, allowed: set):
        self.table = table
        self.allowed = allowed
        self.xp = table.backend

    def value(self, node):
        kind = type(node).__name__
        method = getattr(self, "_" + kind, None)
        if method is None:
            raise QueryError(f"'{kind}' is not allowed in a query")
        return method(node)

    # -- leaves ----------------------------------------------------------------------------------
    def _Name(self, node):
        if node.id not in self.allowed or node.id not in self.table:
            raise QueryError(f"unknown column '{node.id}'")
        return self.table[node.id]

    def _Constant(self, node):
        if isinstance(node.value, (str, int, float, bool, type(None))):
            return node.value
        raise QueryError("only string, number, True/False/None literals are allowed")

    def _List(self, node):
        raise QueryError("a list [...] is allowed only after 'in' or 'not in', e.g. brain_area in ['CA1', 'DG']")

    _Tuple = _List

    # -- operators ---------------------------------------------------------------------------------
    def _UnaryOp(self, node):
        operand = self.value(node.operand)
        if isinstance(node.op, (ast.Not, ast.Invert)):
            if array_kind(operand) == "b":
                return self.xp.invert(operand)
            raise QueryError(f"'not' and '~' negate a condition on rows, not {_describe(operand)}")
        if not _is_number(operand):
            raise QueryError(f"'+' and '-' work on numbers, not on {_describe(operand)}")
        if array_kind(operand):
            self.xp.require_numpy("arithmetic on a column")
        return -operand if isinstance(node.op, ast.USub) else +operand

    def _BinOp(self, node):
        op = _ARITHMETIC.get(type(node.op))
        if op is None:
            raise QueryError(f"'{type(node.op).__name__}' is not allowed in a query")
        left, right = self.value(node.left), self.value(node.right)
        for side in (left, right):
            if not _is_number(side):
                raise QueryError(f"arithmetic (+ - * / % // **) works on numbers, not on {_describe(side)}")
        if op is operator.pow and (array_kind(right) or abs(right) > safe_query.MAX_EXPONENT):
            raise QueryError(f"the exponent of ** must be a number between -{safe_query.MAX_EXPONENT} "
                             f"and {safe_query.MAX_EXPONENT}")
        columns = array_kind(left) or array_kind(right)
        if columns:
            self.xp.require_numpy("arithmetic on a column")
        try:
            result = op(left, right)
        except Exception as error:  # ZeroDivisionError, OverflowError, ValueError: the user's words
            raise QueryError(f"{type(error).__name__}: {error}") from None
        if isinstance(result, complex):
            raise QueryError("the arithmetic gives a complex number (a negative number to a fractional power)")
        if not columns:
            return result  # two constants: Python's own arithmetic, as pandas does
        if op is operator.floordiv:
            return _floordiv_zeros(left, right, result)
        if op is operator.mod:
            return _mod_zeros(right, result)
        return result

    def _BoolOp(self, node):
        combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        result = None
        for part in node.values:
            value = self.value(part)
            if not _is_bool(value):
                raise QueryError(f"'and'/'or'/'&'/'|' combine conditions, not {_describe(value)}")
            result = value if result is None else self.xp.logical(combine, result, value)
        return result

    def _Compare(self, node):
        if len(node.ops) > 1 and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            raise QueryError("'in' cannot be chained with other comparisons; join them with 'and'")
        result = None
        left = self.value(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                pair = self._isin(left, right_node)
                pair = self.xp.invert(pair) if isinstance(op, ast.NotIn) else pair
                right = None
            else:
                right = self.value(right_node)
                pair = self._compare(left, type(op), right)
            result = pair if result is None else self.xp.logical(operator.and_, result, pair)
            left = right
        return result

    def _compare(self, left, op, right):
        symbol = _SYMBOL[op]
        if not (_is_rows(left) or _is_rows(right)):
            raise QueryError(f"'{symbol}' compares two constants; a condition must name a column")
        if left is None or right is None:
            if op not in (ast.Eq, ast.NotEq):
                raise QueryError(f"'{symbol}' cannot compare with None; use column.isna()")
            return self.xp.full(len(self.table), op is ast.NotEq)  # pandas: nothing equals None
        if isinstance(left, TextColumn) or isinstance(right, TextColumn):
            return self._compare_text(left, op, right)
        if isinstance(left, str) or isinstance(right, str):
            raise QueryError(f"'{symbol}' compares numbers with text; compare a number column with a number")
        if _is_bool(left) or _is_bool(right):
            if not (_is_bool(left) and _is_bool(right)) or op not in (ast.Eq, ast.NotEq):
                raise QueryError(f"a condition can only be compared with True or False, by == or !=; "
                                 f"not {_describe(left)} {symbol} {_describe(right)}")
        try:
            result = self.xp.compare(_COMPARE[op], left, right)
        except Exception as error:  # OverflowError of a huge integer against floats, ...
            raise QueryError(f"{type(error).__name__}: {error}") from None
        if array_kind(result) != "b":
            raise QueryError(f"'{symbol}' cannot compare {_describe(left)} with {_describe(right)}")
        return result

    def _compare_text(self, left, op, right):
        compare = _COMPARE[op]
        if isinstance(left, TextColumn) and isinstance(right, TextColumn):
            return self.xp.compare_each(compare, left.values(), right.values())
        if isinstance(left, TextColumn) and isinstance(right, str):
            return per_category(self.xp, left, lambda c: compare(c, right), "b")
        if isinstance(right, TextColumn) and isinstance(left, str):
            return per_category(self.xp, right, lambda c: compare(left, c), "b")
        other = right if isinstance(left, TextColumn) else left
        raise QueryError(f"'{_SYMBOL[op]}' compares text with {_describe(other)}; "
                         "compare a text column with a string in quotes")

    def _isin(self, left, node):
        if not isinstance(node, (ast.List, ast.Tuple)):
            raise QueryError("'in' needs a list on its right, e.g. brain_area in ['CA1', 'DG']")
        if not _is_rows(left) or _is_bool(left):
            raise QueryError(f"'in' tests a column's values, not {_describe(left)}")
        items = [self._list_item(element) for element in node.elts]
        if isinstance(left, TextColumn):
            if not all(isinstance(item, str) for item in items):
                raise QueryError("a list for a text column must hold strings only, e.g. ['CA1', 'DG']")
            wanted = set(items)
            return per_category(self.xp, left, lambda c: c in wanted, "b")
        if not all(_is_number(item) for item in items):
            raise QueryError("a list for a number column must hold numbers only, e.g. [1, 2.5]")
        if any(isinstance(i, int) and abs(i) > MAX_EXACT_INTEGER for i in items):
            raise QueryError(f"whole numbers in a list must be at most 2**53 = {MAX_EXACT_INTEGER} in size")
        if array_kind(left) == "f":
            return self.xp.isin(left, [float(i) for i in items])
        # int64 column: exact equality, as pandas compares (1.0 matches 1, 1.5 nothing).
        whole = [int(i) for i in items if isinstance(i, int) or (float(i).is_integer() and -(2**63) <= i < 2**63)]
        return self.xp.isin(left, whole)

    def _list_item(self, node):
        """A list element: a literal, or a signed number literal (``-1e400`` is ``-inf``)."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self._list_item(node.operand)
            if not _is_number(value):
                raise QueryError("'-' in a list applies to numbers only")
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.Constant):
            return self._Constant(node)
        raise QueryError("a list after 'in' must hold literal strings or numbers, e.g. ['CA1', 'DG']")

    # -- methods -------------------------------------------------------------------------------------
    def _Call(self, node):
        func = node.func
        if not isinstance(func, ast.Attribute):
            raise QueryError("only methods of a column may be called, e.g. brain_area.str.startswith('CA')")
        owner = func.value
        if isinstance(owner, ast.Name):
            column = self._Name(owner)
            if func.attr not in safe_query.COLUMN_METHODS:
                raise QueryError(f"method '{func.attr}' is not allowed here")
            if node.args or node.keywords:
                raise QueryError(f"'{func.attr}()' takes no arguments")
            if array_kind(column) == "f":
                missing = self.xp.isnan(column)
            else:  # whole-number and text columns of a catalogue have no missing values
                missing = self.xp.full(len(self.table), False)
            return missing if func.attr == "isna" else self.xp.invert(missing)
        if isinstance(owner, ast.Attribute) and owner.attr == "str" and isinstance(owner.value, ast.Name):
            column = self._Name(owner.value)
            if not isinstance(column, TextColumn):
                raise QueryError(f"'.str' works on text columns; '{owner.value.id}' holds numbers")
            return string_method(self.xp, column, func.attr, node)
        raise QueryError("only column.str.<method>(...) and column.isna()/notna() may be called")
