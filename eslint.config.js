// The page's JavaScript: ES modules on the UI thread (app.js the entry), one module Web Worker
// (worker.js), and the node unit tests (ES modules). Recommended rules plus the few that catch
// what bit us: shadowed names, unused values, loose equality.
import js from "@eslint/js";
import globals from "globals";

const strict = {
  "no-shadow": "error",
  "no-unused-vars": ["error", { args: "after-used", caughtErrors: "none" }],
  eqeqeq: ["error", "always"],
  "no-var": "error",
  "prefer-const": "error",
};

export default [
  js.configs.recommended,
  {
    files: ["site_src/static/**/*.js"],
    ignores: ["site_src/static/worker.js"],
    languageOptions: { sourceType: "module", ecmaVersion: 2022, globals: { ...globals.browser } },
    rules: strict,
  },
  {
    files: ["site_src/static/worker.js"],
    languageOptions: { sourceType: "module", ecmaVersion: 2022, globals: { ...globals.worker } },
    rules: strict,
  },
  {
    files: ["tests/node/**/*.mjs"],
    languageOptions: { sourceType: "module", ecmaVersion: 2022, globals: { ...globals.node } },
    rules: strict,
  },
];
