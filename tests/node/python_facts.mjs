// What the node tests share: the repository's root, and the page config's Python-declared
// facts fetched from the project's venv, so these tests use the rules the page gets, never a
// copy. The page's modules themselves are imported directly (site_src/static/*.js).
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** A Python expression over templatelib, evaluated by the project's venv, as JSON. */
export function fromPython(expression) {
  const python = process.env.HTL_PYTHON || join(REPO, ".venv", "bin", "python");
  const code = `import json, sys; sys.path[:0] = ["site_src", "."]; ${expression.imports || ""}\nprint(json.dumps(${expression.value}))`;
  return JSON.parse(execFileSync(python, ["-c", code], { cwd: REPO, encoding: "utf8" }));
}
