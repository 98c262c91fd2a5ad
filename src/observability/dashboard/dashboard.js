// The dashboard's script: polls /api/status every second and redraws the page from it.
// Dashboard.ts inlines it into index.html, so it runs as a classic script.
"use strict"
// With DASHBOARD_TOKEN set, the page is opened once as /?token=...: the token is kept here, in this page's
// memory, for the API calls, and taken out of the address bar (history, bookmarks, screenshots).
const token = (() => {
  const params = new URLSearchParams(location.search)
  const t = params.get("token")
  if (t === null) return null
  params.delete("token")
  const rest = params.toString()
  history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash)
  return t
})()
const apiHeaders = token ? { authorization: "Bearer " + token } : {}
const nf = new Intl.NumberFormat("en-US")
const nf1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 })
const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c])
const num = (n) => (n === undefined || n === null ? "–" : nf.format(n))
const rate = (n) => (n === undefined || n === null ? "–" : nf1.format(n) + "/s")
const dur = (ms) => {
  if (ms === undefined || ms === null) return "–"
  const s = Math.abs(ms) / 1000
  const sign = ms < 0 ? "-" : ""
  if (s < 1) return sign + Math.round(Math.abs(ms)) + " ms"
  if (s < 90) return sign + nf1.format(s) + " s"
  if (s < 5400) return sign + nf1.format(s / 60) + " min"
  return sign + nf1.format(s / 3600) + " h"
}
const time = (
  t
) => (t === undefined || t === null ? "–" : new Date(t).toISOString().replace("T", " ").slice(0, 19) + "Z")
const cell = (v, key) => {
  if (v === null || v === undefined) return ""
  if (typeof v === "number" && key && /time|date|timestamp|window|start|end/i.test(key) && v > 1e11 && v < 1e13) {
    return time(v)
  }
  if (typeof v === "number") return Number.isInteger(v) ? nf.format(v) : nf1.format(v)
  if (typeof v === "object") return JSON.stringify(v)
  return String(v)
}
const kpi = (cls, label, value, hint, attrs) =>
  "<div class=\"kpi " + cls + "\"" + (attrs || "") + "><div class=\"label\">" + esc(label) +
  "</div><div class=\"value\">" +
  esc(value) + "</div><div class=\"hint\">" + esc(hint || "\u00a0") + "</div></div>"

const isDlq = (n) => /dead|dlq|late/i.test(n)

function graph(p) {
  const t = p.topology
  const sources = t.sources.length ? t.sources : ["source"]
  const cols = [sources, ...t.stages.map((s) => [s]), t.sinks.length ? t.sinks : ["sink"]]
  const W = 780, nodeH = 34, gapY = 14
  const nodeW = Math.min(150, Math.floor((W - 28) / cols.length) - 34)
  const maxChars = Math.floor(nodeW / 6.8)
  const rows = Math.max(...cols.map((c) => c.length))
  const H = Math.max(96, rows * (nodeH + gapY) + 34)
  const colX = (i) => 14 + i * ((W - 28 - nodeW) / Math.max(1, cols.length - 1))
  const pos = cols.map((c, i) =>
    c.map((name, j) => {
      const total = c.length * nodeH + (c.length - 1) * gapY
      return { name, x: colX(i), y: (H - total) / 2 + j * (nodeH + gapY) }
    })
  )
  let edges = "", labels = ""
  for (let i = 0; i + 1 < pos.length; i++) {
    for (const a of pos[i]) {
      for (const b of pos[i + 1]) {
        const x1 = a.x + nodeW, y1 = a.y + nodeH / 2, x2 = b.x, y2 = b.y + nodeH / 2, mx = (x1 + x2) / 2
        const last = i + 1 === pos.length - 1, first = i === 0
        let live = false, label = "", cls = ""
        if (first) {
          live = p.inPerSecond > 0
          label = rate(p.inPerSecond)
        } else if (last && isDlq(b.name)) {
          cls = " dlqward"
          label = num(/late/i.test(b.name) ? p.late : p.deadLettered + p.dropped)
          live = (/late/i.test(b.name) ? p.late : p.deadLettered) > 0 && p.inPerSecond > 0
        } else if (last) {
          live = p.outPerSecond > 0
          cls = " outward"
          label = rate(p.outPerSecond)
        } else live = p.inPerSecond > 0
        edges += "<path class=\"edge" + (live ? " live" : "") + cls + "\" d=\"M" + x1 + "," + y1 + " C" + mx + "," +
          y1 + " " + mx + "," + y2 + " " + x2 + "," + y2 + "\"/>"
        if (label && (first ? a === pos[0][0] : true)) {
          const lx = first ? mx : x2 - 34, ly = (first ? (y1 + y2) / 2 : y2) - 7
          labels += "<text class=\"elabel\" text-anchor=\"middle\" x=\"" + lx + "\" y=\"" + ly + "\">" + esc(label) +
            "</text>"
        }
      }
    }
  }
  let nodes = ""
  pos.forEach((c, i) =>
    c.forEach((n) => {
      const kind = i === 0 ? "source" : i === pos.length - 1 ? (isDlq(n.name) ? "sink dlq" : "sink") : "stage"
      const text = n.name.length > maxChars ? n.name.slice(0, maxChars - 1) + "…" : n.name
      nodes += "<g class=\"node " + kind + "\"><title>" + esc(n.name) + "</title><rect rx=\"8\" x=\"" + n.x +
        "\" y=\"" + n.y + "\" width=\"" + nodeW + "\" height=\"" + nodeH + "\"/>" +
        "<text text-anchor=\"middle\" x=\"" + (n.x + nodeW / 2) + "\" y=\"" + (n.y + nodeH / 2 + 4) + "\">" +
        esc(text) + "</text></g>"
    })
  )
  return "<svg class=\"graph\" viewBox=\"0 0 " + W + " " + H + "\" role=\"img\" aria-label=\"pipeline graph\">" +
    edges + nodes + labels + "</svg>"
}

function chart(history) {
  const W = 600, H = 120, pad = 6
  if (!history.length) {
    return "<svg class=\"chart\" viewBox=\"0 0 " + W + " " + H +
      "\"><text x=\"12\" y=\"22\" fill=\"#8b98a5\" font-size=\"12\">collecting…</text></svg>"
  }
  const max = Math.max(1, ...history.map((h) => Math.max(h.in, h.out)))
  const n = Math.max(30, history.length)
  const xs = (i) => W - pad - (history.length - 1 - i) * ((W - 2 * pad) / (n - 1))
  const ys = (v) => H - pad - (v / max) * (H - 2 * pad - 14)
  const line = (k) => history.map((h, i) => xs(i).toFixed(1) + "," + ys(h[k]).toFixed(1)).join(" ")
  const area = (k) =>
    xs(0).toFixed(1) + "," + (H - pad) + " " + line(k) + " " + xs(history.length - 1).toFixed(1) + "," + (H - pad)
  let grid = ""
  for (let i = 1; i <= 3; i++) {
    grid += "<line x1=\"0\" x2=\"" + W + "\" y1=\"" + ys(max * i / 4) + "\" y2=\"" + ys(max * i / 4) +
      "\" stroke=\"#232d38\"/>"
  }
  return "<svg class=\"chart\" viewBox=\"0 0 " + W + " " + H + "\" preserveAspectRatio=\"none\">" + grid +
    "<line x1=\"0\" x2=\"" + W + "\" y1=\"" + ys(max) + "\" y2=\"" + ys(max) +
    "\" stroke=\"#2a3542\" stroke-dasharray=\"3 4\"/>" +
    "<polygon points=\"" + area("in") + "\" fill=\"rgba(74,163,255,.16)\"/>" +
    "<polyline points=\"" + line("in") + "\" fill=\"none\" stroke=\"#4aa3ff\" stroke-width=\"2\"/>" +
    "<polyline points=\"" + line("out") +
    "\" fill=\"none\" stroke=\"#3fd18b\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/>" +
    "<text x=\"8\" y=\"" + (ys(max) - 3) + "\" fill=\"#8b98a5\" font-size=\"11\">" + esc(rate(max)) + "</text></svg>"
}

function bars(t) {
  const max = Math.max(1, ...t.entries.map((e) => Math.abs(e[1])))
  return "<div><h3>" + esc(t.label) + "</h3><div class=\"bars\">" +
    t.entries.slice(0, 12).map((e) =>
      "<div class=\"bar\"><span class=\"k\" title=\"" + esc(e[0]) + "\">" + esc(e[0]) +
      "</span><span class=\"track\"><span class=\"fill\" style=\"width:" +
      (100 * Math.abs(e[1]) / max).toFixed(1) + "%;display:block\"></span></span><span class=\"v\">" + esc(cell(e[1])) +
      "</span></div>"
    ).join("") + "</div></div>"
}

// Set from each status: false unless the service runs with DASHBOARD_SHOW_ROWS=true.
let rowPreviews = false
const previewsOff = "<div class=\"empty\" data-row-previews=\"off\">row previews are off " +
  "(start the service with DASHBOARD_SHOW_ROWS=true to show the newest rows, card numbers masked)</div>"

function rowsTable(rows, limit) {
  if (!rowPreviews) return previewsOff
  if (!rows.length) return "<div class=\"empty\">no rows yet</div>"
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))].slice(0, 9)
  return "<div class=\"scroll\"><table><thead><tr>" + cols.map((c) => "<th>" + esc(c) + "</th>").join("") +
    "</tr></thead><tbody>" +
    rows.slice(0, limit).map((r) =>
      "<tr>" + cols.map((c) =>
        "<td title=\"" + esc(cell(r[c], c)) + "\"" +
        (typeof r[c] === "number" && cell(r[c], c).indexOf(":") < 0 ? " class=\"num\"" : "") + ">" +
        esc(cell(r[c], c)) + "</td>"
      ).join("") + "</tr>"
    ).join("") +
    "</tbody></table></div>"
}

function partitionsTable(p) {
  if (!p.partitions.length) return "<div class=\"empty\">no partitions yet</div>"
  const windowed = p.partitions.some((x) => x.watermark !== undefined && x.watermark !== null)
  return "<div class=\"scroll\"><table><thead><tr><th>partition</th><th class=\"num\">records in</th><th class=\"num\">in/s</th>" +
    "<th class=\"num\">last offset</th><th class=\"num\">committed</th><th class=\"num\">end</th><th class=\"num\">lag</th>" +
    (windowed ? "<th>watermark</th>" : "") + "</tr></thead><tbody>" +
    p.partitions.map((x) =>
      "<tr" + (x.assigned ? "" : " style=\"opacity:.5\"") + "><td>" + esc(x.topic + " / " + x.partition) +
      "</td><td class=\"num\">" + num(x.recordsIn) +
      "</td><td class=\"num\">" + rate(x.inPerSecond) + "</td><td class=\"num\">" + esc(x.lastOffset ?? "–") +
      "</td><td class=\"num\">" + esc(x.committedOffset ?? "–") +
      "</td><td class=\"num\">" + esc(x.highWatermark ?? "–") + "</td><td class=\"num\">" + num(x.lag) + "</td>" +
      (windowed ? "<td>" + esc(time(x.watermark)) + "</td>" : "") + "</tr>"
    ).join("") +
    "</tbody></table></div>"
}

function pipelineCard(p) {
  const attr = (m) => " data-pipeline=\"" + esc(p.name) + "\" data-metric=\"" + m + "\""
  const state = p.ready
    ? "<span class=\"pill ok\">" + (p.state === "idle" ? "idle" : "ready") + "</span>"
    : p.state === "startup"
    ? "<span class=\"pill warn\">starting</span>"
    : p.stalled
    ? "<span class=\"pill bad\">stalled</span>"
    : "<span class=\"pill warn\">not ready</span>"
  const sinks = Object.entries(p.sinkLatency)
  const mainSink = sinks.find((e) => e[0] === "output") || sinks[0]
  const errors = Object.entries(p.errors)
  const errorTotal = errors.reduce((a, e) => a + e[1], 0)
  const kpis = [
    kpi("in", "Records in", num(p.recordsIn), rate(p.inPerSecond), attr("recordsIn")),
    kpi("out", "Records out", num(p.recordsOut), rate(p.outPerSecond), attr("recordsOut")),
    kpi(p.stalled ? "alert" : "", "Consumer lag", num(p.lag), p.groupId ? "group " + p.groupId : "", attr("lag")),
    kpi(
      p.deadLettered + p.dropped > 0 ? "alert" : "",
      "Dead letters",
      num(p.deadLettered + p.dropped),
      p.dropped ? p.dropped + " dropped" : "",
      attr("deadLetters")
    ),
    kpi(
      "",
      "Watermark",
      p.watermark === undefined || p.watermark === null ? "–" : time(p.watermark).slice(11),
      p.watermarkDelayMs === undefined || p.watermarkDelayMs === null
        ? "event time"
        : dur(p.watermarkDelayMs) + " behind",
      attr("watermark")
    ),
    kpi(
      p.late > 0 ? "alert" : "",
      "Late records",
      num(p.late),
      p.openWindows === undefined || p.openWindows === null ? "" : num(p.openWindows) + " open windows",
      attr("late")
    ),
    kpi(
      "",
      "Commits",
      num(p.commits),
      p.commitLatency.count
        ? "mean " + dur(p.commitLatency.meanMs)
        : p.lastCommitAt
        ? "last " + dur(Date.now() - p.lastCommitAt) + " ago"
        : "",
      attr("commits")
    ),
    mainSink
      ? kpi(
        errorTotal > 0 ? "alert" : "",
        "Sink latency",
        dur(mainSink[1].meanMs),
        "mean · max " + dur(mainSink[1].maxMs) + (errorTotal ? " · " + errorTotal + " errors" : ""),
        attr("sinkLatency")
      )
      : kpi(
        errorTotal > 0 ? "alert" : "",
        "Errors",
        num(errorTotal),
        errors.map((e) => e[0] + " " + e[1]).join(", "),
        attr("errors")
      )
  ].join("")
  const tallies = p.tallies.filter((t) => t.entries.length).map(bars).join("")
  return "<section class=\"card\" data-pipeline-card=\"" + esc(p.name) + "\"><h2>" + esc(p.name) + " " + state +
    "</h2>" +
    "<div class=\"sub\">" +
    esc(
      p.reasons.join(" · ") ||
        (p.partitions.filter((x) => x.assigned).length + " partitions assigned · " + p.rebalances + " rebalances")
    ) + "</div>" +
    "<div class=\"top\"><div><h3>Flow</h3>" + graph(p) + "<h3>Throughput, last 2 minutes</h3>" + chart(p.history) +
    "<div class=\"legend\"><span><i style=\"background:#4aa3ff\"></i>in</span><span><i style=\"background:#3fd18b\"></i>out</span></div></div>" +
    "<div><h3>Now</h3><div class=\"kpis\">" + kpis + "</div><h3>Partitions</h3>" + partitionsTable(p) + "</div></div>" +
    (tallies ? "<div class=\"grid2\">" + tallies + "</div>" : "") +
    (p.featureRows ? featureRows(p.featureRows) : "<h3>Latest output rows</h3>" + rowsTable(p.latest.toReversed(), 6)) +
    "</section>"
}

function featureRows(t) {
  return "<h3>Latest feature rows · " + esc(t.name + " v" + t.version) + " · " + num(t.rows) + " rows online · key " +
    esc(t.primaryKey.join(", ")) + "</h3>" +
    "<div data-online-table=\"" + esc(t.name) + "\" data-rows=\"" + t.rows + "\">" + rowsTable(t.newest, 6) + "</div>"
}

function onlineCard(tables) {
  if (!tables.length) return ""
  return "<section class=\"card\"><h2>Online feature store</h2><div class=\"sub\">newest rows per feature group (local emulator)</div>" +
    tables.map(featureRows).join("") + "</section>"
}

function kafkaCard(k) {
  if (!k.connections.length) return ""
  return "<section class=\"card\"><h2>Kafka consumers</h2><div class=\"conn\">" +
    k.connections.map((c) =>
      kpi(
        c.connected ? "" : "alert",
        c.groupId,
        c.connected ? "connected" : "disconnected",
        "contact " + (c.lastContactAgoMs === undefined || c.lastContactAgoMs === null
          ? "never"
          : dur(c.lastContactAgoMs) + " ago") +
          " · " + c.rebalances + " joins · " + c.crashes + " crashes"
      )
    ).join("") + "</div></section>"
}

async function tick() {
  try {
    const res = await fetch("/api/status", { cache: "no-store", headers: apiHeaders })
    if (res.status === 401) {
      const ready = document.getElementById("ready")
      ready.className = "pill bad"
      ready.textContent = "unauthorized"
      document.getElementById("reasons").textContent =
        "this service needs its DASHBOARD_TOKEN: open the dashboard as /?token=<token>"
      return
    }
    const s = await res.json()
    if (s.readiness === undefined) {
      // The server answers before the pipelines start (and while they stop): nothing to draw yet.
      const ready = document.getElementById("ready")
      ready.className = "pill warn"
      ready.textContent = s.status || "starting"
      return
    }
    rowPreviews = s.rowPreviews === true
    const r = s.readiness
    const ready = document.getElementById("ready")
    ready.className = "pill " + (r.ready ? "ok" : r.state === "startup" ? "warn" : "bad")
    ready.textContent = r.state || (r.ready ? "ready" : "not ready")
    const b = s.kafka.broker
    const broker = document.getElementById("broker")
    broker.className = "pill " + (b.reachable === false ? "bad" : b.reachable ? "ok" : "warn")
    broker.textContent = b.reachable === false
      ? "Kafka unreachable"
      : b.reachable
      ? "Kafka reachable"
      : "Kafka: not probed yet"
    document.getElementById("reasons").textContent = r.reasons.join(" · ")
    document.getElementById("updated").textContent = "updated " + time(s.now)
    document.getElementById("uptime").textContent = "up " + dur(s.now - s.startedAt)
    document.getElementById("main").innerHTML = (s.pipelines.length ?
      s.pipelines.map(pipelineCard).join("") :
      "<section class=\"card\"><div class=\"empty\">no pipeline running yet</div></section>") +
      onlineCard(
        s.onlineTables.filter((t) =>
          !s.pipelines.some((p) =>
            p.featureRows && p.featureRows.name === t.name && p.featureRows.version === t.version
          )
        )
      ) + kafkaCard(s.kafka)
  } catch {
    const ready = document.getElementById("ready")
    ready.className = "pill bad"
    ready.textContent = "service unreachable"
  } finally {
    setTimeout(tick, 1000)
  }
}
tick()
