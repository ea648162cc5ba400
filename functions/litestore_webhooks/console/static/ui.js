// Shared pieces: data loading, fields with the API's validation errors, dialogs, formatting.
// Everything renders through htm/Preact, which escapes text and attribute values: no markup
// from the API (receiver responses, payloads, names) is ever parsed as HTML.
import { html, useCallback, useEffect, useRef, useState } from "./vendor.js";

let ready = false;
/** Called once the first screen shows its data: the browser tests read this mark. */
export function markReady() {
  if (ready) return;
  ready = true;
  performance.mark("lsw:first-render");
  document.documentElement.dataset.ready = "1";
}

/** Load with `load()`; reload on `deps` change, on `reload()`, and every `refreshMs` while the tab is visible. */
export function useLoad(load, deps, { refreshMs = 0 } = {}) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === generation.current && setState({ data, error: null, loading: false, at: new Date() }),
      (error) => mine === generation.current && setState((s) => ({ data: s.data, error, loading: false, at: s.at })),
    );
  }, deps);
  useEffect(() => {
    run();
    if (!refreshMs) return undefined;
    const timer = setInterval(() => document.visibilityState === "visible" && run(), refreshMs);
    return () => clearInterval(timer);
  }, [run, refreshMs]);
  return { ...state, reload: run };
}

export function Loading({ what = "Loading" }) {
  return html`<p class="muted" role="status">${what}…</p>`;
}

export function ErrorNotice({ error, action }) {
  if (!error) return null;
  return html`<div class="notice error" role="alert">
    <strong>${error.status === 403 && error.code === "read_only" ? "Read-only session" : "Could not complete that"}</strong>
    <span> ${error.message}</span> ${action || ""}
  </div>`;
}

export function Notice({ kind = "info", children }) {
  return html`<div class=${"notice " + kind} role="status">${children}</div>`;
}

let fieldIds = 0;
/** A labelled control; `error` is shown under it and tied to it for screen readers. */
export function Field({ label, hint, error, children, wide }) {
  const id = useRef(null);
  if (id.current === null) id.current = `f${++fieldIds}`;
  const control = typeof children === "function" ? children(id.current, error ? `${id.current}-err` : hint ? `${id.current}-hint` : undefined) : children;
  return html`<div class=${"field" + (wide ? " wide" : "") + (error ? " invalid" : "")}>
    <label for=${id.current}>${label}</label>
    ${control}
    ${hint && !error ? html`<p class="hint" id=${id.current + "-hint"}>${hint}</p>` : null}
    ${error ? html`<p class="field-error" id=${id.current + "-err"}>${error}</p>` : null}
  </div>`;
}

/** The API's validation details ({path: "body.url", message}) keyed by field path ("url", "retryPolicy.maxAttempts"). */
export function fieldErrors(error) {
  const out = {};
  if (!error || !error.details) return out;
  for (const detail of error.details) {
    if (!detail || typeof detail.path !== "string") continue;
    const path = detail.path.replace(/^body\.?/, "") || "_";
    out[path] = out[path] ? `${out[path]}; ${detail.message}` : String(detail.message);
  }
  return out;
}

/** A modal dialog (the native <dialog>: focus moves in, Escape closes, the page behind is inert). */
export function Dialog({ title, open, onClose, children }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return html`<dialog ref=${ref} onClose=${onClose} aria-labelledby="dialog-title">
    <h2 id="dialog-title">${title}</h2>
    ${open ? children : null}
  </dialog>`;
}

/** A destructive action confirmed by typing `word` (an endpoint's name, "purge"). */
export function TypedConfirm({ word, action, onConfirm, onCancel, busy }) {
  const [typed, setTyped] = useState("");
  return html`<form class="stack" onSubmit=${(e) => { e.preventDefault(); if (typed === word) onConfirm(); }}>
    <${Field} label=${html`Type <code>${word}</code> to confirm`}>
      ${(id) => html`<input id=${id} value=${typed} autocomplete="off" spellcheck="false"
                             onInput=${(e) => setTyped(e.currentTarget.value)} />`}
    <//>
    <div class="actions">
      <button type="submit" class="danger" disabled=${typed !== word || busy}>${action}</button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}

export function CopyButton({ text, label = "Copy" }) {
  const [done, setDone] = useState(false);
  const copy = () => navigator.clipboard && navigator.clipboard.writeText(text).then(() => {
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  });
  return html`<button type="button" class="small" onClick=${copy}>${done ? "Copied" : label}</button>`;
}

export function StateBadge({ endpoint }) {
  const state = endpointState(endpoint);
  return html`<span class=${"badge " + state.kind}>${state.label}</span>`;
}

export function endpointState(e) {
  if (!e.active) {
    const why = { manual: "manual", gone: "gone (410)", auto_disabled: "auto-disabled" }[e.pausedReason] || "manual";
    return { kind: e.pausedReason === "manual" || !e.pausedReason ? "paused" : "bad", label: `paused (${why})` };
  }
  return e.failingSince ? { kind: "warn", label: "failing" } : { kind: "ok", label: "active" };
}

export const statusLabels = {
  delivered: "delivered",
  retry_scheduled: "retry scheduled",
  dead_lettered: "dead-lettered",
  failed: "failed",
};

export function StatusBadge({ status }) {
  const kind = status === "delivered" ? "ok" : status === "retry_scheduled" ? "warn" : "bad";
  return html`<span class=${"badge " + kind}>${statusLabels[status] || status}</span>`;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function Time({ iso }) {
  return iso ? html`<time datetime=${iso} title=${iso}>${fmtTime(iso)}</time>` : "—";
}

export const fmtPct = (rate) => (rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(rate >= 0.9995 || rate === 0 ? 0 : 1)} %`);
export const fmtMs = (ms) => (ms === null || ms === undefined ? "—" : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms} ms`);
export const fmtCount = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString());

/** "2026-01-02T03:04" (a datetime-local value, local time) <-> ISO UTC. */
export function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
export const fromLocalInput = (value) => (value ? new Date(value).toISOString() : "");

/** Whether subscription `patterns` ("*", "order.*", exact names) select event type `name` (core/catalog.py's rule). */
export function subscribes(patterns, name) {
  return (patterns || []).some((p) => p === "*" || (p.endsWith(".*") ? name.startsWith(p.slice(0, -1)) : p === name));
}

export function Pre({ value, label }) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return html`<pre class="code" tabindex="0" aria-label=${label}>${text}</pre>`;
}

export const href = (...parts) => "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
