// The quick filters: they write the query (the same text works in Python). Which filters, on
// which column, with which operator and unit scale is config.quickFilters
// (templatelib/page_contract.py QUICK_FILTERS); the page's template renders their boxes.
import { config, run } from "./state.js";
import { $ } from "./status.js";
import { submitQuery } from "./results.js";
import { filterExpression } from "./words.js";

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

/** The choices of the choice filters and the range hints of the boxes, from the library's info. */
export function fillFilters() {
  const info = run.info;
  for (const filter of config.quickFilters) {
    const box = $(filter.id);
    if (filter.choices) {
      // A choice is a value, or [value, templates with it].
      for (const choice of info[filter.choices]) {
        box.append(Array.isArray(choice) ? option(choice[0], (choice[0] || "(none)") + " (" + choice[1] + ")")
          : option(choice, choice));
      }
    } else if (filter.hint && info.ranges[filter.column]) {
      const [low, high] = info.ranges[filter.column];
      box.placeholder = String(Math.round((filter.operator === "<=" ? high : low) / filter.scale));
    }
  }
}

/** A change of any filter rewrites the query and runs it. */
export function bindFilters() {
  $("filters").addEventListener("change", () => {
    $("query").value = filterExpression(config.quickFilters, (id) => $(id).value);
    submitQuery();
  });
}
