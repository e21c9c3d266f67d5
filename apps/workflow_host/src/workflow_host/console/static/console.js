// The console's live parts, in plain JavaScript (no build step): an element with
// data-live (an SSE URL) and data-fragment (its HTML) is fetched again on each "changed"
// event; countdowns tick each second; a decision form submits once; a form with
// data-stream (the requester's question) shows its answer as it comes.
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

// Reads a text/event-stream body, calling show(event, data) for each event (the format of
// the HTML standard: "event:" and "data:" lines, a blank line ends an event).
async function readEvents(body, show) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", name = "", data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
      if (line === "") {
        if (data.length) show(name || "message", data.join("\n"));
        name = "";
        data = [];
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = text;
        else if (field === "data") data.push(text);
      }
    }
  }
}

// The question form, answered as a stream: the basket and its prices show as soon as the
// tools priced them, the checked explanation when it is written. Anything but a stream
// (a refusal's page, a network error) falls back to posting the form as without script.
function streamed(form) {
  const target = document.getElementById("ask-result");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    let r;
    try {
      r = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: "text/event-stream" },
        credentials: "same-origin",
      });
    } catch (e) {
      r = null;
    }
    const type = r ? r.headers.get("content-type") || "" : "";
    if (!r || !r.ok || !type.startsWith("text/event-stream")) {
      form.submit();
      return;
    }
    target.dataset.stage = "asking";
    try {
      await readEvents(r.body, (name, html) => {
        target.innerHTML = html;
        target.dataset.stage = name;
        document.getElementById("announce").textContent =
          name === "basket" ? "Basket proposed; the explanation follows" : "Answer complete";
      });
    } finally {
      button.disabled = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach(follow);
  document.querySelectorAll("form[data-stream]").forEach(streamed);
  onceOnly(document);
  tick();
  setInterval(tick, 1000);
});
