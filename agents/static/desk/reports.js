// The reports page: drawn by the server (charts are SVG); this module puts the page in the
// viewer's time zone and applies a filter as soon as it changes.
import { ensureTimeZone, setupPage } from "./page.js";

if (ensureTimeZone()) {
  setupPage();
  const form = document.getElementById("report-filters");
  for (const id of ["filter-team", "filter-agent", "filter-bucket"]) {
    document.getElementById(id).addEventListener("change", () => form.requestSubmit());
  }
}
