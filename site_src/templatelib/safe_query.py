"""Run a user's ``DataFrame.query`` expression, allowing only what a filter needs.

A ``?q=`` arrives from shared links, and pandas' ``query`` evaluates Python expressions:
``@`` reaches local variables, attribute access reaches dunders and, in Pyodide, ``js``.
So the expression is parsed with :mod:`ast` first and rejected unless every node is on the
allow-list: column names, literals, comparisons, boolean and arithmetic operators, and a few
methods on a column (``brain_area.str.startswith('CA')``, ``noise_level_uv.isna()``).

A shared link must not hang the page either, so the work an expression can ask for is bounded:

- at most :data:`MAX_LENGTH` characters and :data:`MAX_NODES` syntax-tree nodes;
- ``**``: the exponent is a number literal of magnitude at most :data:`MAX_EXPONENT` and the
  base holds no other ``**`` (``10**10**10`` would be a number of 10 billion digits);
- arithmetic (``+ - * / % // **``) is for numbers: a string or list literal, or a text column,
  is refused as an operand (``'x' * 10**9``, ``'%999999999d' % 1`` and ``brain_area * 10**6``
  build gigabytes);
- ``str.contains`` / ``str.match`` / ``str.fullmatch`` keep pandas' regular-expression meaning
  (``contains('CA1|DG')``), but a pattern that can backtrack without end is refused: no
  quantifier (``* + ? {m,n}``) on a group that holds a quantifier or a ``|`` (``(a+)+``,
  ``(.*)*x``), no backreferences (``\\1``, ``(?P=name)``), at most :data:`MAX_REGEX_CHOICES`
  quantifiers and alternations in all (``.*.*.*x`` is cubic), at most
  :data:`MAX_REGEX_ALTERNATIVES` alternatives, repetition counts up to
  :data:`MAX_REGEX_REPEAT`. ``regex=False`` matches literally and is never refused;
- the methods take one positional argument (the pattern); ``case``, ``na`` and ``regex`` are
  given by keyword.

String values keep Python's escapes: ``brain_area == 'it\\'s\\n'`` matches ``it's`` and a
newline. Line breaks outside quotes count as spaces (a pasted multi-line query works); a raw
line break inside quotes, or a ``#`` comment in a multi-line query, is refused.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

try:  # the regular-expression parser re itself uses (CPython 3.11+, Pyodide)
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_parse as _sre_parse

MAX_LENGTH = 2000
MAX_NODES = 400
#: Largest ``|exponent|`` of ``**``: ``(9...9)**100`` of a 2,000-digit literal is 200,000 digits, milliseconds.
MAX_EXPONENT = 100
#: Quantifiers plus alternations in one pattern: ``.*.*x`` over 100,000 60-character rows takes ~3 s, ``.*.*.*x`` ~60 s.
MAX_REGEX_CHOICES = 2
MAX_REGEX_ALTERNATIVES = 10
MAX_REGEX_REPEAT = 1000
#: String methods whose first argument is a regular expression (unless ``regex=False``).
REGEX_METHODS = frozenset({"contains", "match", "fullmatch"})
_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.FloorDiv, ast.Pow)

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


def _number(node) -> float | None:
    """The value of a number literal (``2``, ``-0.5``), else None."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * node.value
    return None


def _is_text(node, text_columns) -> bool:
    """True when ``node`` evaluates to strings or a sequence (where ``*`` and ``%`` repeat or format)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, (ast.List, ast.Tuple)):
        return True
    if isinstance(node, ast.Name):
        return node.id in text_columns
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in ("lower", "upper")
    if isinstance(node, ast.BinOp):
        return _is_text(node.left, text_columns) or _is_text(node.right, text_columns)
    return False


def _check_arithmetic(node: ast.BinOp, text_columns) -> None:
    if not isinstance(node.op, _ARITHMETIC):
        return
    if _is_text(node.left, text_columns) or _is_text(node.right, text_columns):
        raise QueryError("arithmetic (+ - * / % // **) works on numbers only, not on text or lists")
    if isinstance(node.op, ast.Pow):
        exponent = _number(node.right)
        if exponent is None or abs(exponent) > MAX_EXPONENT:
            raise QueryError(f"the exponent of ** must be a number between -{MAX_EXPONENT} and {MAX_EXPONENT}")
        if any(isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Pow) for inner in ast.walk(node.left)):
            raise QueryError("a power of a power (a ** b ** c) is not allowed")


class _Refused(Exception):
    pass


def _regex_walk(items, counts: dict) -> bool:
    """Check a parsed pattern; True when it holds a quantifier or an alternation."""
    chooses = False
    for op, av in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            if low > MAX_REGEX_REPEAT or (high != _sre_parse.MAXREPEAT and high > MAX_REGEX_REPEAT):
                raise _Refused(f"repeats more than {MAX_REGEX_REPEAT} times")
            if _regex_walk(sub, counts):
                raise _Refused("repeats a group that holds a quantifier or '|' (like (a+)+), "
                               "which can take exponential time")
            counts["choices"] += low != high
            chooses = True
        elif name == "BRANCH":
            for alternative in av[1]:
                _regex_walk(alternative, counts)
            counts["choices"] += 1
            counts["alternatives"] += len(av[1])
            chooses = True
        elif name in ("GROUPREF", "GROUPREF_EXISTS"):
            raise _Refused("uses a backreference")
        elif name == "SUBPATTERN":
            chooses |= _regex_walk(av[-1], counts)
        elif name == "ATOMIC_GROUP":
            chooses |= _regex_walk(av, counts)
        elif name in ("ASSERT", "ASSERT_NOT"):
            chooses |= _regex_walk(av[1], counts)
    return chooses


def check_pattern(pattern: str) -> None:
    """Raise :class:`QueryError` unless ``pattern`` is a regular expression with bounded backtracking."""
    try:
        parsed = _sre_parse.parse(pattern)
    except Exception as error:  # re.error, OverflowError, RecursionError: all "not a usable pattern"
        raise QueryError(f"{pattern!r} is not a valid regular expression ({error})") from None
    counts = {"choices": 0, "alternatives": 0}
    try:
        _regex_walk(parsed, counts)
        if counts["choices"] > MAX_REGEX_CHOICES:
            raise _Refused(f"has {counts['choices']} quantifiers and alternations (at most {MAX_REGEX_CHOICES}; "
                           "combine several conditions with 'and' instead)")
        if counts["alternatives"] > MAX_REGEX_ALTERNATIVES:
            raise _Refused(f"has more than {MAX_REGEX_ALTERNATIVES} alternatives (use 'in [...]' for lists)")
    except _Refused as refusal:
        raise QueryError(f"the pattern {pattern!r} {refusal}; pass regex=False to match it literally") from None
    except RecursionError:
        raise QueryError(f"the pattern {pattern!r} is nested too deeply") from None


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
    if len(node.args) > 1:
        raise QueryError(f"'{func.attr}' takes one argument; give case=, na= or regex= by keyword")
    for keyword in node.keywords:
        if keyword.arg not in KEYWORDS or not _literal(keyword.value):
            raise QueryError(f"keyword '{keyword.arg}' is not allowed here")
    literal_match = any(k.arg == "regex" and k.value.value is False for k in node.keywords)
    if func.attr in REGEX_METHODS and node.args and isinstance(node.args[0].value, str) and not literal_match:
        check_pattern(node.args[0].value)


def _single_line(expression: str) -> str:
    """``expression`` with its line breaks (outside quotes) as spaces; refuses what that would change."""
    if "\n" not in expression and "\r" not in expression:
        return expression
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(expression).readline))
    except (tokenize.TokenError, SyntaxError) as error:
        raise QueryError(f"syntax error: {error.args[0]}") from None
    for token in tokens:
        if token.type == tokenize.STRING and ("\n" in token.string or "\r" in token.string):
            raise QueryError("a line break inside quotes must be written \\n")
        if token.type == tokenize.COMMENT:
            raise QueryError("'#' comments are not allowed in a query of several lines")
    # Only CR and LF: str.splitlines would also split on \x85 or \u2028 inside a value.
    return re.sub(r"\r\n|\r|\n", " ", expression)


def check_expression(expression: str, columns, text_columns=()) -> ast.Expression:
    """Parse ``expression`` and raise :class:`QueryError` unless every part is allowed.

    Parameters
    ----------
    expression : str
        A pandas query expression.
    columns : collection of str
        The names it may refer to.
    text_columns : collection of str
        Those of ``columns`` that hold text (refused as operands of arithmetic).
    """
    if len(expression) > MAX_LENGTH:
        raise QueryError(f"the query is longer than {MAX_LENGTH} characters")
    if "@" in expression:
        raise QueryError("'@' (local variables) is not allowed in a query")
    if "`" in expression:
        raise QueryError("backtick-quoted names are not allowed; the catalogue's columns need none")
    if "\x00" in expression:
        raise QueryError("the query holds a NUL character")
    try:
        tree = ast.parse(_single_line(expression).strip(), mode="eval")
    except SyntaxError as error:
        raise QueryError(f"syntax error at column {error.offset}: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise QueryError("the query is nested too deeply") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise QueryError(f"the query is too complex (more than {MAX_NODES} parts)")
    method_parts = set()
    for node in nodes:
        if isinstance(node, ast.Call):
            _column_method(node, columns)  # checked whole: mark its call/attribute/name parts done
            owner = node.func.value
            column = owner if isinstance(owner, ast.Name) else owner.value
            method_parts.update({id(node), id(node.func), id(owner), id(column)})
            method_parts.update(id(k) for k in node.keywords)
    for node in nodes:
        if isinstance(node, ast.BinOp):
            _check_arithmetic(node, set(text_columns))
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


def _numeric(column) -> bool:
    from pandas.api import types

    return types.is_numeric_dtype(column) or types.is_bool_dtype(column)


def run_query(table, expression: str, columns=None):
    """Rows of ``table`` matching ``expression`` (all rows for an empty expression).

    Raises
    ------
    QueryError
        When the expression is not allowed, or pandas cannot evaluate it.
    """
    import pandas as pd  # here, not at import: the page checks queries before pandas has loaded

    expression = (expression or "").strip()
    if not expression:
        return table
    allowed = list(columns if columns is not None else table.columns)
    text = [c for c in allowed if c in table.columns and not _numeric(table[c])]
    check_expression(expression, allowed, text)
    try:
        # engine="python": numexpr is not in Pyodide, and the checked tree needs no more.
        result = table.query(_single_line(expression), engine="python")
    except Exception as error:  # pandas raises many types; the user needs the words
        raise QueryError(f"{type(error).__name__}: {error}") from None
    if not isinstance(result, pd.DataFrame):
        raise QueryError("the query must be a condition on rows, e.g. amplitude_uv > 100")
    return result
