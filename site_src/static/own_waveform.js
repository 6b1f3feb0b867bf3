// "Your own waveform": the visitor picks a .npy or .csv file and a sampling rate; the page
// checks the file's name and size BEFORE reading it (config.ownWaveform, from Python), reads it
// in this browser (nothing is uploaded anywhere), hands its bytes to the worker's `own_waveform`
// (which refuses hostile files in words), draws the preview Python made of it, and ranks the
// results by it (similar.js, Python's `similar` with own=true).
import { base64FromBytes, fileProblem, parseRate } from "./example_logic.js";
import { startRanking } from "./similar.js";
import { call, config, run, state } from "./state.js";
import { $ } from "./status.js";
import { sparkline } from "./thumbnails.js";
import { describeError } from "./words.js";

const LIMITS = config.ownWaveform;

function refuse(words) {
  $("own-status").textContent = "";
  $("own-error").textContent = words;
}

/** Read the chosen file (if it may be read), let Python check and align it, then rank by it. */
export async function rankByOwnWaveform() {
  $("own-error").textContent = "";
  const file = $("own-file").files[0];
  if (!file) { refuse("Choose a .npy or .csv file first."); return; }
  // Name and size first: a file over the limit is never read.
  const problem = fileProblem(file, LIMITS);
  if (problem) { refuse(problem); return; }
  const rate = parseRate($("own-rate").value, LIMITS);
  if (rate instanceof Error) { refuse(file.name.slice(0, 80) + ": " + rate.message + "."); return; }
  if (run.info === null) { refuse("Python is still starting; try again in a moment."); return; }
  $("own-status").textContent = "Reading " + file.name.slice(0, 80) + " in this browser…";
  let answer;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    $("own-status").textContent = "Aligning " + file.name.slice(0, 80) + " (waits for Python's template view stage)…";
    answer = await call("own_waveform", { name: file.name, data_b64: base64FromBytes(bytes), sampling_frequency: rate });
  } catch (error) {
    refuse(error && error.kind ? describeError(error) : file.name.slice(0, 80) + " could not be read in this browser.");
    return;
  }
  const slot = $("own-preview");
  slot.textContent = "";
  const svg = sparkline(String(answer.name), answer.preview, 240, 60);
  // Named apart from the results' "Waveform <template_id>" images.
  svg.setAttribute("aria-label", "Your waveform " + String(answer.name));
  slot.append(svg);
  $("own-status").textContent = "Your waveform " + JSON.stringify(String(answer.name)) + " (channel " +
    answer.channel + ", " + answer.sampling_frequency + " Hz), aligned like the library's templates.";
  run.own = String(answer.name);
  state.like = "";
  await startRanking();
}

/** The section's controls. */
export function bindOwnWaveform() {
  $("own-file").accept = LIMITS.extensions.join(",");
  $("own-rate").min = String(LIMITS.minRateHz);
  $("own-rate").max = String(LIMITS.maxRateHz);
  $("own-rate").value = String(LIMITS.defaultRateHz);
  $("own-file").addEventListener("change", () => { if ($("own-file").files.length) rankByOwnWaveform(); });
  $("own-rank").addEventListener("click", () => rankByOwnWaveform());
}
