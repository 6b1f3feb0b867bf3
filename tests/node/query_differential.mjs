// Runs the page's query evaluator (templatelib.column_query) against the pandas the page ships
// (the offline bundle's pandas 2.2 and numpy 2.0, text as object columns), on one table and many
// queries, and prints one JSON line ("RESULT {...}") for tests/test_column_query.py. The same
// evaluator on the standard-library columns the page starts with (before numpy) must answer as
// it does on numpy, or defer the query to numpy (arithmetic on columns).
//
// Usage: node tests/node/query_differential.mjs <bundle-dir> <site_src-dir> <data-dir>
// <data-dir> holds table.npz (numbers as float64/int64, text as unicode arrays) and queries.json.

import { printPythonResult } from "./pyodide_boot.mjs";

const PYTHON = `
import json, sys, warnings
sys.path.insert(0, "/src")
warnings.simplefilter("ignore")  # RuntimeWarnings of x/0 in pandas
import numpy as np, pandas as pd
from templatelib.column_arrays import NeedsNumpy
from templatelib.column_query import evaluate
from templatelib.column_table import ColumnTable, TextColumn
from templatelib.safe_query import QueryError, run_query

arrays = np.load("/data/table.npz")
table = ColumnTable({name: TextColumn.from_strings(arrays[name].tolist()) if arrays[name].dtype.kind == "U"
                     else arrays[name] for name in arrays.files})
frame = table.to_pandas()
pure = table.to_python()
out = {"pandas": pd.__version__, "numpy": np.__version__, "same": 0, "refused": 0, "different": [],
       "pandas_fails": [], "text_dtype": str(frame[table.text_columns()[0]].dtype),
       "pure_same": 0, "pure_deferred": 0, "pure_different": []}
for query in json.load(open("/data/queries.json")):
    try:
        on_numpy = evaluate(table, query).tolist()
    except QueryError:
        on_numpy = None
    try:
        on_python = list(evaluate(pure, query))
    except QueryError:
        on_python = None
    except NeedsNumpy:
        out["pure_deferred"] += 1
    else:
        if on_python == on_numpy:
            out["pure_same"] += 1
        else:
            out["pure_different"].append([query, on_python, on_numpy])
    try:
        theirs = run_query(frame, query).index.tolist()
    except QueryError as error:
        theirs = str(error)
    try:
        ours = evaluate(table, query).tolist()
    except QueryError:
        out["refused"] += 1
        continue
    if isinstance(theirs, str):
        out["pandas_fails"].append([query, theirs])
    elif ours == theirs:
        out["same"] += 1
    else:
        out["different"].append([query, ours, theirs])
json.dumps(out)
`;

printPythonResult(["numpy", "pandas"], PYTHON);
