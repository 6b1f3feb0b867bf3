// The results ranked by similarity ("Similar templates", "Your own waveform"): which ranking the
// table asks Python for, the Similarity column and the line above the table that names what the
// results are ranked by (with "Clear ranking"). results.js calls these; similar.js and
// own_waveform.js start a ranking. Every string goes through textContent.
import { run, state } from "./state.js";
import { $ } from "./status.js";
import { formatSimilarity } from "./example_logic.js";

/** The `similar` call's ranking arguments for what the visitor asked, or null (the plain query). */
export function rankingAsk() {
  if (run.own) return { own: true };
  if (state.like) return { like: state.like };
  return null;
}

/** Stop ranking: the results go back to the query's own order (the caller re-runs it). */
export function clearRanking() {
  state.like = "";
  run.own = "";
}

/** What the results are ranked by, in words. */
export function rankingWords(ranked) {
  return ranked.own ? "your waveform (" + JSON.stringify(run.own.slice(0, 80)) + ")" : "template " + ranked.like;
}

/** Say that a ranking is on its way (Python may still be loading the stage that ranks). */
export function showRankingBusy(ranked) {
  $("ranking").hidden = false;
  $("ranking-text").textContent = "Ranking the results by similarity to " + rankingWords(ranked) + "…";
}

/** The Similarity column's header and the ranking line, for `ranked` (null: none) and Python's answer. */
export function showRanking(ranked, result) {
  const head = document.querySelector("#results-table thead tr");
  let th = $("similarity-head");
  if (ranked && !th) {
    th = document.createElement("th");
    th.id = "similarity-head";
    th.scope = "col";
    th.textContent = "Similarity";
    // No aria-sort here: results.js gives the sortable columns theirs (each has a sort button).
    th.title = "Most similar first";
    head.append(th);
  } else if (!ranked && th) th.remove();
  $("ranking").hidden = !ranked;
  if (ranked) {
    const note = result && result.note ? " " + result.note : "";
    $("ranking-text").textContent = "Ranked by similarity to " + rankingWords(ranked) + ", most similar first." +
      (result && result.measure ? " Similarity: " + result.measure : "") + note;
  }
}

/** A row's Similarity cell. */
export function similarityCell(row) {
  const td = document.createElement("td");
  td.className = "num similarity";
  td.textContent = formatSimilarity(row.similarity);
  return td;
}
