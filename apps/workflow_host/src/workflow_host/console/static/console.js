// The console's live parts, in plain JavaScript (no build step): an element with
// data-live (an SSE URL) and data-fragment (its HTML) is fetched again on each "changed"
// event; countdowns tick each second; a decision form submits once.
"use strict";

function left(deadline) {
  const s = Math.floor((new Date(deadline) - new Date()) / 1000);
  if (isNaN(s)) return null;
  if (s <= 0) return "due now";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h) return `${h} h ${m} min left`;
  return m ? `${m} min ${r} s left` : `${r} s left`;
}

function tick() {
  for (const el of document.querySelectorAll(".countdown[data-deadline]")) {
    const text = el.dataset.deadline && left(el.dataset.deadline);
    if (text) el.textContent = text;
  }
}

function onceOnly(root) {
  for (const form of root.querySelectorAll("form#decide")) {
    form.addEventListener("submit", () => {
      // Disabled after the submit is built, so the clicked button's value is still sent.
      setTimeout(() => form.querySelectorAll("button").forEach((b) => (b.disabled = true)), 0);
    });
  }
}

function follow(el) {
  const source = new EventSource(el.dataset.live);
  let busy = false;
  let version = el.dataset.version;  // what the page shows: the first event repeats it
  let wanted = version;  // the newest version the server announced
  async function refresh() {
    if (busy || wanted === version) return;
    busy = true;
    const target = wanted;
    try {
      const r = await fetch(el.dataset.fragment, { credentials: "same-origin" });
      if (r.ok) {
        const typing = el.contains(document.activeElement) && document.activeElement.tagName === "TEXTAREA";
        if (!typing) {
          el.innerHTML = await r.text();
          version = target;
          onceOnly(el);
          tick();
          document.getElementById("announce").textContent = "Updated " + new Date().toLocaleTimeString();
        }
      } else if (r.status === 401 || r.status === 403) {
        source.close();
        window.location.reload();
        return;
      }
    } catch (e) {
      // the network blinked: the retry below fetches again
    } finally {
      busy = false;
    }
    // A change announced while this fetch ran (or one this fetch could not show) is not
    // announced again: fetch again, after a pause, until the page shows the newest.
    if (wanted !== version) setTimeout(refresh, 1000);
  }
  source.addEventListener("changed", (ev) => {
    wanted = ev.data;
    refresh();
  });
  window.addEventListener("pagehide", () => source.close());
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach(follow);
  onceOnly(document);
  tick();
  setInterval(tick, 1000);
});
