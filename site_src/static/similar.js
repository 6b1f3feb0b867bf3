// "Similar templates": the template view's button ranks the current results by similarity to
// the viewed template (shareable as ?like=<template_id>); "Clear ranking" returns them to the
// query's own order. The ranking itself runs in results.js (Python's `similar`).
import { runQuery } from "./results.js";
import { run, state } from "./state.js";
import { $, dataBusy } from "./status.js";
import { clearRanking, rankingAsk, showRanking, showRankingBusy } from "./similarity_column.js";

/** Rank the current results by what `rankingAsk()` names, from their first page. */
export async function startRanking() {
  state.page = 0;
  const ranked = rankingAsk();
  if (ranked) showRankingBusy(ranked);
  // "Loading data…" (or "Loading the rest of Python…" while the stage that ranks loads) meanwhile.
  dataBusy(1);
  try {
    await runQuery(true);
  } finally {
    dataBusy(-1);
  }
}

/** The template view's "Similar templates" button and the ranking line's "Clear ranking". */
export function bindSimilar() {
  $("similar-button").addEventListener("click", () => {
    if (!state.view || run.info === null) return;
    run.own = "";
    state.like = state.view;
    startRanking();
  });
  $("clear-ranking").addEventListener("click", () => {
    clearRanking();
    showRanking(null);
    state.page = 0;
    runQuery(true);
  });
}
