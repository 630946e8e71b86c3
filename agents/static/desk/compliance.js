// The compliance page: the remediation countdown ticking, and an admin opening or resolving
// a case through the API (then the page is drawn again by the server).
import { api, duration, gettext } from "./live.js";
import { ensureTimeZone, setupPage } from "./page.js";

const $ = (id) => document.getElementById(id);

if (ensureTimeZone()) {
  setupPage();

  const open = $("open-case");
  if (open) {
    const deadline = new Date(open.dataset.deadline);
    const tick = () => {
      const left = (deadline - Date.now()) / 1000;
      $("case-countdown").textContent = left > 0 ? duration(left) : gettext("deadline passed");
    };
    tick();
    setInterval(tick, 30000);
  }

  const fail = (error) => {
    $("case-error").textContent = error.message;
    $("case-error").hidden = false;
  };

  const openForm = $("open-form");
  if (openForm) {
    openForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api(`/api/v1/compliance/numbers/${openForm.dataset.number}/cases/`, { method: "POST", body: { reason: $("open-text").value } });
        location.reload();
      } catch (error) {
        fail(error);
      }
    });
  }

  const resolveForm = $("resolve-form");
  if (resolveForm) {
    resolveForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api(`/api/v1/compliance/cases/${resolveForm.dataset.case}/resolve/`, { method: "POST", body: { resolution: $("resolve-text").value } });
        location.reload();
      } catch (error) {
        fail(error);
      }
    });
  }
}
