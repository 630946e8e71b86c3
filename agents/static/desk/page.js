// The top bar of the report pages (compliance, reports): live status, presence and help.
// The socket keeps the connection badge honest and carries alerts to the banner.
import { Live, api, config, connectionLabel } from "./live.js";

export function setupPage() {
  const cfg = config();
  const $ = (id) => document.getElementById(id);
  new Live({
    url: cfg.socket,
    onEvent: () => {},
    onConnect: () => {},
    onStatus: (status) => {
      const badge = $("connection-status");
      badge.dataset.state = status;
      badge.textContent = connectionLabel(status);
      if (status === "signed-out") location.href = `/accounts/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
    },
  });
  const presence = $("presence-select");
  api("/api/v1/agents/me/").then((profile) => { presence.value = profile.presence; }).catch(() => {});
  presence.addEventListener("change", () => api("/api/v1/agents/me/", { method: "PATCH", body: { presence: presence.value } }).catch(() => {}));
  $("help-button").addEventListener("click", () => $("help-dialog").showModal());
  $("enable-alerts").hidden = true;
  return cfg;
}

// Pages whose period is in the viewer's time zone: the first visit without `tz` reloads once with it.
export function ensureTimeZone() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const params = new URLSearchParams(location.search);
  if (zone && !params.has("tz")) {
    params.set("tz", zone);
    location.replace(`${location.pathname}?${params}`);
    return false;
  }
  return true;
}
