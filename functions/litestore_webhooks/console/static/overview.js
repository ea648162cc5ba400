// Overview: deliveries over time by outcome, success rate, latency, dead letters, endpoints that
// need attention. One call (GET /stats), refreshed every 10 s while the tab is visible.
import { html, uPlot, useEffect, useRef, useState } from "./vendor.js";
import { api } from "./api.js";
import {
  ErrorNotice, Loading, StateBadge, fmtCount, fmtMs, fmtPct, fmtTime, href, markReady, useLoad,
} from "./ui.js";

export const WINDOWS = [["1h", "1 hour"], ["24h", "24 hours"], ["7d", "7 days"]];
const SERIES = [
  ["delivered", "Delivered", "#2e9e4f"],
  ["retried", "Retried", "#e0a100"],
  ["deadLettered", "Dead-lettered", "#d64541"],
];

export function WindowPicker({ value, onChange, label = "Period" }) {
  return html`<fieldset class="segmented">
    <legend>${label}</legend>
    ${WINDOWS.map(([key, text]) => html`<label>
      <input type="radio" name="window" value=${key} checked=${value === key} onChange=${() => onChange(key)} />
      <span>${text}</span>
    </label>`)}
  </fieldset>`;
}

/** Stacked bars: each bar is the bucket's attempts, delivered at the bottom, then retried, then dead-lettered. */
function Chart({ series, title }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    // uPlot draws series in order: the running totals, tallest first, so each shorter one sits on top.
    const stacked = [];
    let running = series.time.map(() => 0);
    for (const [key] of SERIES) {
      running = running.map((v, i) => v + series[key][i]);
      stacked.push(running);
    }
    const bars = uPlot.paths.bars({ size: [0.7, 40] });
    const opts = {
      width: Math.max(280, el.clientWidth),
      height: 220,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] } },
      axes: [{ stroke: "#555" }, { stroke: "#555", size: 44 }],
      legend: { live: false },
      cursor: { show: false },
      series: [{}, ...[...SERIES].reverse().map(([, label, color]) => ({ label, fill: color, stroke: color, width: 0, paths: bars, points: { show: false } }))],
    };
    if (plot.current) plot.current.destroy();
    plot.current = new uPlot(opts, [series.time, ...stacked.reverse()], el);
    const resize = new ResizeObserver(() => plot.current && plot.current.setSize({ width: Math.max(280, el.clientWidth), height: 220 }));
    resize.observe(el);
    return () => resize.disconnect();
  }, [series]);
  useEffect(() => () => plot.current && plot.current.destroy(), []);
  const totals = SERIES.map(([key, label]) => `${label} ${series[key].reduce((a, b) => a + b, 0)}`).join(", ");
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <div ref=${box} role="img" aria-label=${`${title}: ${totals}`}></div>
  </figure>`;
}

function Kpi({ label, value, detail, kind }) {
  return html`<div class=${"kpi " + (kind || "")}><p class="kpi-label">${label}</p><p class="kpi-value">${value}</p>
    ${detail ? html`<p class="kpi-detail">${detail}</p>` : null}</div>`;
}

export function Overview() {
  const [windowKey, setWindow] = useState("24h");
  const stats = useLoad(() => api.get("/stats", { window: windowKey }), [windowKey], { refreshMs: 10000 });
  useEffect(() => { if (stats.data) markReady(); }, [stats.data]);
  const d = stats.data;
  const attention = d ? d.endpoints.filter((e) => !e.active || e.failingSince || e.deadLetterDepth > 0) : [];
  return html`<section aria-labelledby="overview-title">
    <div class="title-row">
      <h1 id="overview-title">Overview</h1>
      <${WindowPicker} value=${windowKey} onChange=${setWindow} />
    </div>
    <${ErrorNotice} error=${stats.error} />
    ${!d ? html`<${Loading} what="Loading delivery numbers" />` : html`
      <div class="kpis">
        <${Kpi} label="Success rate" value=${fmtPct(d.totals.successRate)}
                detail=${`${fmtCount(d.totals.delivered)} of ${fmtCount(d.totals.attempts)} attempts`}
                kind=${d.totals.successRate !== null && d.totals.successRate < 0.95 ? "warn" : ""} />
        <${Kpi} label="Latency p50 / p99" value=${`${fmtMs(d.totals.latencyMs.p50)} / ${fmtMs(d.totals.latencyMs.p99)}`} />
        <${Kpi} label="Dead letters" value=${fmtCount(d.totals.deadLetterDepth)} detail="waiting to be redriven"
                kind=${d.totals.deadLetterDepth ? "bad" : ""} />
        <${Kpi} label="Endpoints" value=${fmtCount(d.totals.endpoints)}
                detail=${`${d.totals.active} active · ${d.totals.paused} paused · ${d.totals.failing} failing`}
                kind=${d.totals.failing || d.totals.paused ? "warn" : ""} />
      </div>
      <${Chart} series=${d.series} title=${`Deliveries per ${bucketName(d.series.bucketSeconds)}, last ${windowKey}`} />
      <p class="muted small">Updated ${fmtTime(stats.at && stats.at.toISOString())}${d.truncated ? " · based on the newest attempts only" : ""}
        <button type="button" class="link" onClick=${stats.reload}>Refresh</button></p>
      <h2>Needs attention</h2>
      ${attention.length === 0 ? html`<p class="muted">Every endpoint is active, delivering, and has no dead letters.</p>` : html`
        <div class="table-wrap"><table>
          <thead><tr><th scope="col">Endpoint</th><th scope="col">State</th><th scope="col">Success</th><th scope="col">Dead letters</th><th scope="col">Failing since</th></tr></thead>
          <tbody>${attention.map((e) => html`<tr>
            <td><a href=${href("endpoints", e.id)}>${e.name}</a></td>
            <td><${StateBadge} endpoint=${e} /></td>
            <td>${fmtPct(e.successRate)}</td>
            <td>${fmtCount(e.deadLetterDepth)}</td>
            <td>${e.failingSince ? fmtTime(e.failingSince) : "—"}</td>
          </tr>`)}</tbody>
        </table></div>`}`}
  </section>`;
}

function bucketName(seconds) {
  if (seconds % 3600 === 0) return seconds === 3600 ? "hour" : `${seconds / 3600} hours`;
  return seconds === 60 ? "minute" : `${seconds / 60} minutes`;
}
