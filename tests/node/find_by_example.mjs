// Runs "find by example" in the page's runtime (the offline bundle's Pyodide and numpy, in node):
// the hybrid preview's spikes, amplitudes and traces, and a user's waveform file read and reduced
// to a preview. Prints one JSON line ("RESULT {...}") that tests/test_hybrid_preview.py compares
// with the same calls in CPython.
//
// Usage: node tests/node/find_by_example.mjs <bundle-dir> <site_src-dir> <data-dir>
// <data-dir> holds case.npz (templates, positions) and waveform.npy.

import { printPythonResult } from "./pyodide_boot.mjs";

const PYTHON = `
import json, sys, time
sys.path.insert(0, "/src")
import numpy as np
from templatelib.hybrid_preview import HybridParameters, amplitude_factors, preview_traces, spike_train
from templatelib.own_waveform import read_waveform

case = np.load("/data/case.npz")
params = HybridParameters(seed=9, noise_uv=6.0)
start = time.perf_counter()
traces, channels, samples, units = preview_traces(case["templates"], 90, 30000.0, case["positions"], params)
preview_ms = 1000 * (time.perf_counter() - start)
amplitudes = amplitude_factors(len(samples), params)
own = read_waveform(open("/data/waveform.npy", "rb").read(), "waveform.npy", 48000)
json.dumps({"numpy": np.__version__, "samples": samples.tolist(), "units": units.tolist(),
            "amplitudes": amplitudes.tolist(), "traces": traces.tolist(), "channels": channels.tolist(),
            "own_steps": own["preview"]["steps"], "preview_ms": preview_ms})
`;

printPythonResult(["numpy"], PYTHON);
