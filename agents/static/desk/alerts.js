// Alerts for a newly assigned conversation: a beep (WebAudio) and a browser notification,
// both unlocked by a click (browsers allow neither before the person interacts).
import { gettext } from "./live.js";

let audio = null;
function unlockAudio() {
  if (!audio && window.AudioContext) audio = new AudioContext();
  if (audio && audio.state === "suspended") audio.resume();
}
function beep() {
  if (!audio) return;
  const osc = audio.createOscillator();
  const gain = audio.createGain();
  osc.frequency.value = 880;
  gain.gain.setValueAtTime(0.15, audio.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
  osc.connect(gain).connect(audio.destination);
  osc.start();
  osc.stop(audio.currentTime + 0.35);
}
export function alertAssigned(row, open) {
  beep();
  if ("Notification" in window && Notification.permission === "granted") {
    const note = new Notification(gettext("New conversation"), { body: row.contact_name || gettext("A customer"), tag: `conversation-${row.id}` });
    note.onclick = () => { window.focus(); open(row.id); };
  }
}
export function setupAlerts(alertsButton) {
  if ("Notification" in window && Notification.permission === "default") alertsButton.hidden = false;
  alertsButton.addEventListener("click", async () => {
    unlockAudio();
    if ("Notification" in window) await Notification.requestPermission();
    alertsButton.hidden = true;
  });
  document.addEventListener("click", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });
}
