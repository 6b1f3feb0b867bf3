// Loads one of the page's classic scripts (site_src/static/*.js) into a fresh context the way
// a browser would run it, and returns the `HTL` namespace it filled. Also fetches the page
// config's Python-declared facts, so these tests use the rules the page gets, never a copy.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export function loadScripts(...names) {
  const context = vm.createContext({ TextDecoder, TextEncoder, crypto: globalThis.crypto, console, URL });
  context.self = context;
  for (const name of names) {
    vm.runInContext(readFileSync(join(REPO, "site_src", "static", name), "utf8"), context, { filename: name });
  }
  return context.HTL;
}

/** A Python expression over templatelib, evaluated by the project's venv, as JSON. */
export function fromPython(expression) {
  const python = process.env.HTL_PYTHON || join(REPO, ".venv", "bin", "python");
  const code = `import json, sys; sys.path[:0] = ["site_src", "."]; ${expression.imports || ""}\nprint(json.dumps(${expression.value}))`;
  return JSON.parse(execFileSync(python, ["-c", code], { cwd: REPO, encoding: "utf8" }));
}
