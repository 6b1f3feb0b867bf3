"""The string methods a query may call (``brain_area.str.startswith('CA')``), on categories.

Part of :mod:`column_query`: each method runs once per distinct value of the text column
(:class:`~templatelib.column_table.TextColumn` categories) and is spread back to the rows by the
codes, so 100,000 rows of a few hundred areas cost a few hundred calls. Each method does what
pandas' Python string implementation does (``pandas.core.strings.object_array``, used by
``object`` and ``str[python]`` columns): ``re.search``/``match``/``fullmatch`` with
``re.IGNORECASE`` for ``case=False``, ``upper_pat in value.upper()`` for
``contains(..., regex=False, case=False)``. Text columns of a catalogue hold no missing values,
so ``na=`` never changes a result; it is checked, not used.
"""

from __future__ import annotations

import ast
import re

from .column_table import TextColumn
from .safe_query import QueryError

#: Keyword arguments each method accepts (pandas raises TypeError on any other).
_KEYWORDS = {
    "contains": {"case", "na", "regex"},
    "match": {"case", "na"},
    "fullmatch": {"case", "na"},
    "startswith": {"na"},
    "endswith": {"na"},
    "lower": set(),
    "upper": set(),
    "len": set(),
}
_NO_PATTERN = {"lower", "upper", "len"}


def per_category(xp, text: TextColumn, function, kind: str):
    """``function`` applied once per category, spread back to the rows by backend ``xp`` as a
    condition (``kind`` ``"b"``) or integers (``"i"``)."""
    return xp.spread([function(c) for c in text.categories], text.codes, kind)


def _arguments(call: ast.Call, method: str) -> tuple:
    """The pattern (or None) and the keyword values of ``call``, refused unless pandas takes them."""
    words = f"'.str.{method}'"
    if method in _NO_PATTERN:
        if call.args or call.keywords:
            raise QueryError(f"{words} takes no arguments, e.g. brain_area.str.{method}()")
        return None, {}
    if len(call.args) != 1 or not isinstance(call.args[0], ast.Constant) or not isinstance(call.args[0].value, str):
        raise QueryError(f"{words} needs one string to look for, e.g. brain_area.str.{method}('CA')")
    keywords = {}
    for keyword in call.keywords:
        if keyword.arg not in _KEYWORDS[method]:
            raise QueryError(f"{words} takes no keyword '{keyword.arg}'; it takes {sorted(_KEYWORDS[method]) or 'none'}")
        value = keyword.value.value if isinstance(keyword.value, ast.Constant) else keyword.value
        allowed = (True, False, None) if keyword.arg == "na" else (True, False)
        if not any(value is a for a in allowed):
            raise QueryError(f"{keyword.arg}= of {words} must be {' or '.join(map(str, allowed))}")
        keywords[keyword.arg] = value
    return call.args[0].value, keywords


def string_method(xp, text: TextColumn, method: str, call: ast.Call):
    """The result of ``column.str.<method>(...)`` for every row: a condition, integers, or text.

    Parameters
    ----------
    xp : column_arrays.Python or column_arrays.Numpy
        The table's array backend.
    text : TextColumn
        The column (or a ``lower()``/``upper()`` of it).
    method : str
        One of ``safe_query.STR_METHODS``.
    call : ast.Call
        The call, for its arguments (literals, already allowed by ``safe_query``).
    """
    if method not in _KEYWORDS:
        raise QueryError(f"method '{method}' is not allowed here")
    pattern, keywords = _arguments(call, method)
    case = keywords.get("case", True)
    if method in ("lower", "upper"):
        change = str.lower if method == "lower" else str.upper
        return TextColumn(text.codes, [change(c) for c in text.categories])
    if method == "len":
        return per_category(xp, text, len, "i")
    if method == "startswith":
        return per_category(xp, text, lambda c: c.startswith(pattern), "b")
    if method == "endswith":
        return per_category(xp, text, lambda c: c.endswith(pattern), "b")
    if method == "contains" and not keywords.get("regex", True):
        if case:
            return per_category(xp, text, lambda c: pattern in c, "b")
        upper = pattern.upper()
        return per_category(xp, text, lambda c: upper in c.upper(), "b")
    # safe_query.check_pattern has bounded the pattern's backtracking already.
    try:
        compiled = re.compile(pattern, 0 if case else re.IGNORECASE)
    except (re.error, OverflowError, RecursionError) as error:
        raise QueryError(f"{pattern!r} is not a valid regular expression ({error})") from None
    find = {"contains": compiled.search, "match": compiled.match, "fullmatch": compiled.fullmatch}[method]
    return per_category(xp, text, lambda c: find(c) is not None, "b")
