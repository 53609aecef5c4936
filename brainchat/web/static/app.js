// brainchat web: the live page of a running brain. One WebSocket carries the brain's frames and events
// (from its subscribe stream, relayed by `brainchat web`) and the page's requests (say, teach, reward, ...).
"use strict";

const PALETTE = ["#4cc9f0", "#f72585", "#b5e48c", "#ffd166", "#9b5de5", "#ff8c42", "#00f5d4", "#fee440", "#8ecae6", "#f15bb5"];
const HISTORY = 600;        // points of the firing chart and the vitals strips (60 s at 10 frames a second)
const TRACE_STEPS = 1500;   // steps of membrane kept per pinned neuron
const COLUMN = 2;           // raster pixels per frame
const BACKGROUND = "#0b0e14";
const token = new URLSearchParams(location.search).get("token") || "";

const page = {
  header: null, frames: 0, skipped: 0, pins: [], requests: new Map(), nextId: 1, paused: false,
  firing: {},               // region -> recent firing fractions
  vitals: { firing: [], drive: [], threshold: [], realtime: [], ms: [] },
  traces: {},               // neuron id -> {membrane: [], threshold: [], spiked: []}
  spikesDrawn: 0,           // spikes painted on the raster so far (the page's own count, for whoever asks)
  lastFrame: null,
};
window.brainchat = page;
const $ = (id) => document.getElementById(id);
let socket = null;

// ---- connection -------------------------------------------------------------------------------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  socket.onmessage = (event) => receive(JSON.parse(event.data));
  socket.onclose = () => { connection(false, "no connection to brainchat web: retrying"); setTimeout(connect, 1500); };
}

function connection(on, text) {
  const badge = $("connection");
  badge.className = "connection " + (on ? "on" : "off");
  badge.textContent = text;
  badge.title = text;
}

function ask(cmd, fields = {}) {
  return new Promise((resolve) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) { resolve({ ok: false, error: "not connected" }); return; }
    const id = page.nextId++;
    page.requests.set(id, resolve);
    socket.send(JSON.stringify({ id, cmd, ...fields }));
  });
}

function receive(message) {
  if (message.type === "header") {
    page.header = message;
    legend();
    connection(true, "watching");
  } else if (message.type === "brain") {
    connection(false, message.reason || "the brain is gone");
  } else if (message.type === "frame") {
    if (message.frame) frame(message.frame, message.skipped || 0);
    for (const event of message.events || []) logEvent(event);
  } else if (message.type === "response") {
    const resolve = page.requests.get(message.id);
    if (resolve) { page.requests.delete(message.id); resolve(message); }
  }
}

// ---- frames -----------------------------------------------------------------------------------------------
function regionColour(index) { return PALETTE[index % PALETTE.length]; }

function legend() {
  const box = $("region-legend");
  box.innerHTML = "";
  page.header.regions.forEach((name, index) => {
    const row = document.createElement("span");
    row.innerHTML = `<span><i style="background:${regionColour(index)}"></i>${name}</span><b id="legend-${index}">-</b>`;
    box.appendChild(row);
  });
}

function push(list, value, limit = HISTORY) { list.push(value); if (list.length > limit) list.splice(0, list.length - limit); }

// Frames are kept as they come and drawn together at most DRAW_FPS times a second, in an animation frame (none
// while the tab is hidden); the charts, a whole redraw each, at most CHART_FPS times: on a machine whose cores the
// brain fills, every slice the browser takes is one a brain thread waits for (docs/benchmarks.md, Watching).
const DRAW_FPS = 5, CHART_FPS = 2;
const waiting = [];
let drawing = false, drawn = 0, chartsDrawn = 0;

function frame(f, skipped) {
  page.frames += 1;
  page.skipped += skipped;
  page.lastFrame = f;
  page.paused = !!f.paused;
  for (const [name, value] of Object.entries(f.regions)) push(page.firing[name] || (page.firing[name] = []), value);
  push(page.vitals.firing, f.firing_fraction);
  push(page.vitals.drive, f.drive);
  push(page.vitals.threshold, f.mean_threshold);
  if (f.realtime_factor !== null) push(page.vitals.realtime, f.realtime_factor);
  push(page.vitals.ms, f.ms_per_step);
  if (f.traces) keepTraces(f.traces);
  // the pins are the brain's, shared by every viewer: follow what it records, whoever pinned it
  const pinned = f.traces ? f.traces.ids : [];
  if (pinned.join() !== page.pins.join()) showPins(pinned);
  waiting.push(f);
  if (waiting.length > 64) waiting.splice(0, waiting.length - 64);
  if (!drawing) {
    drawing = true;
    setTimeout(() => requestAnimationFrame(draw), Math.max(0, 1000 / DRAW_FPS - (performance.now() - drawn)));
  }
}

function draw(now) {
  drawing = false;
  drawn = now;
  const f = page.lastFrame;
  if (page.header) for (const column of waiting) drawRasterColumn(column);
  waiting.length = 0;
  $("frames").textContent = page.frames.toLocaleString();
  $("skipped").textContent = page.skipped ? ` (${page.skipped.toLocaleString()} skipped)` : "";
  $("step").textContent = f.step.toLocaleString();
  $("brain-seconds").textContent = (f.step / 1000).toFixed(1);
  $("realtime").textContent = f.realtime_factor === null ? "-" : `${f.realtime_factor.toFixed(2)}x`;
  $("firing").textContent = `${(100 * f.firing_fraction).toFixed(2)} %`;
  showDopamine(f.modulators.dopamine);
  if (now - chartsDrawn < 1000 / CHART_FPS) return;
  chartsDrawn = now;
  if (page.header) page.header.regions.forEach((name, index) => {
    const cell = $(`legend-${index}`);
    if (cell && f.regions[name] !== undefined) cell.textContent = `${(100 * f.regions[name]).toFixed(2)} %`;
  });
  drawFiring();
  drawVitals();
  drawModulators(f.modulators);
  drawTraces();
}

function unpack(base64, count) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const bits = new Array(count);
  for (let i = 0; i < count; i++) bits[i] = (bytes[i >> 3] >> (7 - (i & 7))) & 1;
  return bits;
}

function drawRasterColumn(f) {
  const canvas = $("raster");
  const g = canvas.getContext("2d");
  const sample = page.header.sample, regions = page.header.sample_region;
  const rowHeight = canvas.height / sample.length;
  g.drawImage(canvas, -COLUMN, 0);
  const x = canvas.width - COLUMN;
  g.fillStyle = BACKGROUND;
  g.fillRect(x, 0, COLUMN, canvas.height);
  const fired = unpack(f.raster, sample.length);
  for (let i = 0; i < sample.length; i++) {
    const count = f.sample_spikes[i];
    if (!fired[i] && !count) continue;
    g.globalAlpha = fired[i] ? 1.0 : Math.min(0.4, 0.04 + (2 * count) / f.steps);
    g.fillStyle = regionColour(regions[i]);
    g.fillRect(x, Math.floor(i * rowHeight), COLUMN, Math.max(1, Math.floor(rowHeight)));
    page.spikesDrawn += fired[i] ? 1 : 0;
  }
  g.globalAlpha = 1.0;
}

function chartFrame(canvas) {
  const g = canvas.getContext("2d");
  g.fillStyle = BACKGROUND;
  g.fillRect(0, 0, canvas.width, canvas.height);
  return g;
}

function line(g, values, colour, width, height, lo, hi, dashed = false) {
  if (values.length < 2) return;
  g.strokeStyle = colour;
  g.lineWidth = 1.5;
  g.setLineDash(dashed ? [4, 3] : []);
  g.beginPath();
  const span = hi - lo || 1;
  values.forEach((value, i) => {
    const x = (i / (HISTORY - 1)) * width, y = height - ((value - lo) / span) * (height - 4) - 2;
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  g.setLineDash([]);
}

function drawFiring() {
  const canvas = $("firing-chart");
  const g = chartFrame(canvas);
  const all = Object.values(page.firing).flat();
  const top = Math.max(0.02, ...all) * 1.15;
  g.fillStyle = "#7b8496";
  g.font = "11px sans-serif";
  g.fillText(`${(100 * top).toFixed(1)} %`, 4, 12);
  g.fillText("0", 4, canvas.height - 4);
  const names = page.header ? page.header.regions : Object.keys(page.firing);
  names.forEach((name, index) => line(g, page.firing[name] || [], regionColour(index), canvas.width, canvas.height, 0, top));
}

const STRIPS = [
  ["firing", "living firing", (v) => `${(100 * v).toFixed(2)} %`],
  ["drive", "drive", (v) => v.toFixed(3)],
  ["threshold", "mean threshold", (v) => v.toFixed(3)],
  ["realtime", "x real time", (v) => `${v.toFixed(2)}x`],
  ["ms", "ms per step", (v) => v.toFixed(3)],
];

function drawVitals() {
  const box = $("vitals");
  if (!box.children.length) {
    for (const [key, label] of STRIPS) {
      const strip = document.createElement("div");
      strip.className = "strip";
      strip.innerHTML = `<span>${label}</span><canvas id="strip-${key}" width="220" height="28"></canvas><b id="value-${key}">-</b>`;
      box.appendChild(strip);
    }
  }
  for (const [key, , format] of STRIPS) {
    const values = page.vitals[key];
    if (!values.length) continue;
    const canvas = $(`strip-${key}`);
    const g = chartFrame(canvas);
    const lo = Math.min(...values), hi = Math.max(...values);
    const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.05 || 0.01;
    line(g, values, "#4cc9f0", canvas.width, canvas.height, lo - pad, hi + pad);
    $(`value-${key}`).textContent = format(values[values.length - 1]);
  }
}

function drawModulators(modulators) {
  const box = $("modulators");
  for (const [name, value] of Object.entries(modulators)) {
    let bar = $(`modulator-${name}`);
    if (!bar) {
      bar = document.createElement("div");
      bar.className = "bar";
      bar.id = `modulator-${name}`;
      bar.innerHTML = `<span>${name}</span><div class="track"><div class="zero"></div><div class="fill"></div></div><b>-</b>`;
      box.appendChild(bar);
    }
    const fill = bar.querySelector(".fill");
    const share = Math.min(1, Math.abs(value) / 2) * 50;  // +-2 fills half the track either side of zero
    fill.className = "fill" + (value < 0 ? " negative" : "");
    fill.style.left = value < 0 ? `${50 - share}%` : "50%";
    fill.style.width = `${share}%`;
    bar.querySelector("b").textContent = value.toFixed(3);
  }
}

function showDopamine(value) { $("dopamine").textContent = value.toFixed(3); }

// ---- pinned neurons ---------------------------------------------------------------------------------------
function keepTraces(traces) {
  traces.ids.forEach((id, k) => {
    const kept = page.traces[id] || (page.traces[id] = { membrane: [], threshold: [], spiked: [] });
    for (const key of ["membrane", "threshold", "spiked"]) {
      kept[key].push(...traces[key][k]);
      if (kept[key].length > TRACE_STEPS) kept[key].splice(0, kept[key].length - TRACE_STEPS);
    }
  });
}

function drawTraces() {
  const canvas = $("traces");
  const g = chartFrame(canvas);
  if (!page.pins.length) {
    g.fillStyle = "#7b8496";
    g.font = "13px sans-serif";
    g.fillText("no neuron pinned: click a row of the raster, or give an id above", 12, canvas.height / 2);
    return;
  }
  const lane = canvas.height / page.pins.length;
  page.pins.forEach((id, k) => {
    const kept = page.traces[id];
    const top = k * lane;
    g.fillStyle = "#7b8496";
    g.font = "11px sans-serif";
    const dead = kept && kept.threshold.length && kept.threshold[kept.threshold.length - 1] === null;  // a dead neuron's threshold is +inf: sent as null
    g.fillText(`#${id} ${regionOf(id)}${dead ? " (dead)" : ""}`, 4, top + 12);
    if (!kept || kept.membrane.length < 2) return;
    const values = kept.membrane.concat(kept.threshold).filter((v) => v !== null);
    const lo = Math.min(...values), hi = Math.max(...values);
    const span = hi - lo || 1;
    const y = (v) => top + lane - 3 - ((v - lo) / span) * (lane - 16);
    const x = (i) => canvas.width * (i + TRACE_STEPS - kept.membrane.length) / TRACE_STEPS;
    for (const [series, colour, dashed] of [[kept.threshold, "#ffd166", true], [kept.membrane, PALETTE[k % PALETTE.length], false]]) {
      g.strokeStyle = colour;
      g.setLineDash(dashed ? [4, 3] : []);
      g.beginPath();
      let drawing = false;  // a gap where there is no value (the dead's threshold)
      series.forEach((v, i) => {
        if (v === null) { drawing = false; return; }
        if (drawing) g.lineTo(x(i), y(v)); else g.moveTo(x(i), y(v));
        drawing = true;
      });
      g.stroke();
    }
    g.setLineDash([]);
    g.fillStyle = "#ffffff";
    kept.spiked.forEach((s, i) => { if (s) g.fillRect(x(i), top + 2, 1, 10); });
  });
}

function regionOf(id) {
  if (!page.header) return "";
  const i = page.header.sample.indexOf(id);
  return i >= 0 ? page.header.regions[page.header.sample_region[i]] : "";
}

async function setPins(ids) {
  const answer = await ask("pin", { ids });
  if (!answer.ok) { say("error", answer.error); return; }
  showPins(answer.pinned);
}

function showPins(ids) {
  page.pins = ids;
  for (const id of Object.keys(page.traces)) if (!page.pins.includes(Number(id))) delete page.traces[id];
  const box = $("pins");
  box.innerHTML = "";
  for (const id of page.pins) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `#${id} x`;
    button.title = "unpin";
    button.onclick = () => setPins(page.pins.filter((p) => p !== id));
    box.appendChild(button);
  }
  drawTraces();
}

$("raster").addEventListener("click", (event) => {
  if (!page.header) return;
  const canvas = $("raster");
  const rect = canvas.getBoundingClientRect();
  const row = Math.floor(((event.clientY - rect.top) / rect.height) * page.header.sample.length);
  const id = page.header.sample[Math.max(0, Math.min(page.header.sample.length - 1, row))];
  setPins(page.pins.includes(id) ? page.pins.filter((p) => p !== id) : [...page.pins, id].slice(-8));
});

$("pin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = parseInt($("pin-input").value, 10);
  if (Number.isInteger(id)) setPins([...page.pins.filter((p) => p !== id), id].slice(-8));
  $("pin-input").value = "";
});

// ---- weights ----------------------------------------------------------------------------------------------
async function weights() {
  const answer = await ask("weights");
  if (!answer.ok) return;
  const canvas = $("weights");
  const g = chartFrame(canvas);
  const names = Object.keys(answer.pathways);
  const bins = answer.edges.length - 1;
  const width = canvas.width / bins;
  const top = Math.log10(1 + Math.max(1, ...names.flatMap((n) => answer.pathways[n])));
  names.forEach((name, k) => {
    g.fillStyle = PALETTE[(k + 2) % PALETTE.length];
    g.globalAlpha = names.length > 1 ? 0.6 : 0.9;
    answer.pathways[name].forEach((count, i) => {
      const h = (Math.log10(1 + count) / top) * (canvas.height - 16);
      g.fillRect(i * width + 1, canvas.height - 14 - h, width - 2, h);
    });
  });
  g.globalAlpha = 1;
  g.fillStyle = "#7b8496";
  g.font = "11px sans-serif";
  g.fillText("0", 2, canvas.height - 2);
  g.fillText(answer.edges[bins].toFixed(1), canvas.width - 22, canvas.height - 2);
  $("weights-note").textContent = names.length
    ? `${names.join(", ")}: ${answer.synapses.toLocaleString()} synapses, mean ${answer.mean.toFixed(3)} (step ${answer.step.toLocaleString()})`
    : "no plastic pathway in this brain";
}
setInterval(weights, 5000);

// ---- events and the conversation --------------------------------------------------------------------------
function logEvent(event) {
  const list = $("events");
  const item = document.createElement("li");
  item.dataset.kind = event.kind;
  const kind = document.createElement("span");
  kind.className = "kind";
  kind.textContent = event.kind;
  item.appendChild(kind);
  item.appendChild(document.createTextNode(` ${event.step.toLocaleString()}  ${describe(event)}`));
  list.prepend(item);
  while (list.children.length > 200) list.lastChild.remove();
  if (event.kind === "reward" && event.dopamine !== undefined) showDopamine(event.dopamine);
}

function describe(event) {
  switch (event.kind) {
    case "say": return JSON.stringify(event.text);
    case "reply": return `${JSON.stringify(event.text)} to ${JSON.stringify(event.said)}`;
    case "teach": return `${JSON.stringify(event.text)} => ${JSON.stringify(event.reply)}`;
    case "taught": return `${JSON.stringify(event.said)}: it said ${JSON.stringify(event.text)}`;
    case "reward": return `${event.value > 0 ? "+" : ""}${event.value} (dopamine ${Number(event.dopamine).toFixed(2)})`;
    case "dose": return `${event.name} to ${Number(event.level).toFixed(2)}${event.seconds ? ` for ${event.seconds} s` : ""}`;
    case "save": return `${event.path} (${Math.round(event.bytes / 1024).toLocaleString()} KiB)`;
    case "load": return event.path ? String(event.path) : (event.converted ? "converted" : "");
    default: return Object.entries(event).filter(([k]) => k !== "kind" && k !== "step").map(([k, v]) => `${k}=${v}`).join(" ");
  }
}

function say(kind, text) {
  const chat = $("chat");
  const entry = document.createElement("div");
  entry.className = `entry ${kind}`;
  entry.textContent = text;
  chat.appendChild(entry);
  chat.scrollTop = chat.scrollHeight;
  return entry;
}

$("say-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("say-input");
  const text = input.value;
  if (!text.trim()) return;
  input.value = "";
  say("you", `you:   ${text}`);
  const answer = await ask("say", { text });
  if (!answer.ok) say("error", answer.error);
  else say("reply", `brain: ${answer.reply || "(silent)"}`);
});

$("teach-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("teach-prompt").value, reply = $("teach-reply").value;
  if (!text.trim() || !reply.trim()) { say("error", "teaching needs a prompt and a reply"); return; }
  say("you", `teach: ${text} => ${reply}`);
  const answer = await ask("teach", { text, reply });
  if (!answer.ok) say("error", answer.error);
  else if (answer.before !== null && answer.before === answer.taught) say("note", `it already answers ${JSON.stringify(answer.said)} with ${JSON.stringify(answer.taught)}`);
  else say("note", `taught ${JSON.stringify(answer.said)} => ${JSON.stringify(reply)}` + (answer.before !== null ? ` (it said ${JSON.stringify(answer.before)})` : ""));
});

async function reward(value) {
  const answer = await ask("reward", { value });
  if (!answer.ok) { say("error", answer.error); return; }
  showDopamine(answer.dopamine);
  say("note", `${value > 0 ? "rewarded" : "punished"}: dopamine ${answer.dopamine.toFixed(3)}`);
}
$("reward-plus").addEventListener("click", () => reward(1));
$("reward-minus").addEventListener("click", () => reward(-1));

$("pause").addEventListener("click", async () => {
  const wanted = page.paused ? "resume" : "pause";
  const answer = await ask(wanted);
  if (!answer.ok) { say("error", answer.error); return; }
  page.paused = answer.paused;
  $("pause").textContent = page.paused ? "resume" : "pause";
  say("note", page.paused ? "paused: the brain holds still" : "resumed");
});

$("speed").addEventListener("change", async () => {
  const answer = await ask("speed", { speed: Number($("speed").value) });
  if (!answer.ok) say("error", answer.error);
  else say("note", answer.speed ? `speed ${answer.speed}x real time` : "speed: as fast as it can");
});

$("save-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("save-name").value.trim();
  say("note", "saving ...");
  const answer = await ask("save", name ? { name } : {});
  if (!answer.ok) say("error", answer.error);
  else say("note", `saved ${answer.path} (${Math.round(answer.bytes / 1024).toLocaleString()} KiB, paused ${answer.pause_ms} ms)`);
});

drawTraces();
connect();
