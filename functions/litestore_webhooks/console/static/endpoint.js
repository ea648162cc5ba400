// One endpoint: its numbers and actions (test send, secret reveal and rotation, pause, resume,
// delete), then tabs: the attempt log (filters, detail, resend), dead letters (peek, redrive,
// purge), replay of a time window, and settings (the edit form).
import { html, useEffect, useRef, useState } from "./vendor.js";
import { api, seg } from "./api.js";
import { EndpointForm, useCatalog } from "./endpoints.js";
import {
  CopyButton, Dialog, ErrorNotice, Field, Loading, Notice, Pre, StateBadge, StatusBadge, Time, TypedConfirm,
  fmtCount, fmtMs, fmtPct, fromLocalInput, href, markReady, toLocalInput, useLoad,
} from "./ui.js";

const TABS = [["attempts", "Attempts"], ["dead-letters", "Dead letters"], ["replay", "Replay"], ["settings", "Settings"]];

export function EndpointDetail({ id, tab, session }) {
  const endpoint = useLoad(() => api.get(`/endpoints/${seg(id)}`), [id]);
  const stats = useLoad(() => api.get(`/endpoints/${seg(id)}/stats`, { window: "24h" }), [id], { refreshMs: 5000 });
  useEffect(() => { if (endpoint.data) markReady(); }, [endpoint.data]);
  if (endpoint.error && !endpoint.data) return html`<${ErrorNotice} error=${endpoint.error} action=${html`<a href="#/endpoints">Back to endpoints</a>`} />`;
  if (!endpoint.data) return html`<${Loading} what="Loading the endpoint" />`;
  const e = endpoint.data;
  const refresh = () => { endpoint.reload(); stats.reload(); };
  const writable = !session.readOnly;
  const shown = TABS.filter(([key]) => writable || (key !== "replay" && key !== "settings"));
  return html`<section aria-labelledby="endpoint-title">
    <p class="crumbs"><a href="#/endpoints">Endpoints</a> ›</p>
    <div class="title-row">
      <h1 id="endpoint-title">${e.name} <${StateBadge} endpoint=${e} /></h1>
    </div>
    <p class="url">${e.url}</p>
    ${e.description ? html`<p>${e.description}</p>` : null}
    <p class="small muted">Subscribed to ${e.events.map((p, i) => html`${i ? ", " : ""}<code>${p}</code>`)} · id <code>${e.id}</code></p>
    <${StatsRow} stats=${stats} />
    ${writable ? html`<${Actions} endpoint=${e} onChanged=${refresh} />` : null}
    <nav class="tabs" aria-label="Endpoint sections">
      ${shown.map(([key, label]) => html`<a href=${href("endpoints", id, key)} aria-current=${tab === key ? "page" : undefined}>${label}</a>`)}
    </nav>
    <div class="tab-panel">
      ${tab === "dead-letters" ? html`<${DeadLetters} endpoint=${e} writable=${writable} onChanged=${stats.reload} />`
        : tab === "replay" && writable ? html`<${Replay} endpoint=${e} />`
        : tab === "settings" && writable ? html`<${EndpointForm} endpoint=${e} onSaved=${() => { refresh(); location.hash = href("endpoints", id); }} />`
        : html`<${Attempts} endpoint=${e} writable=${writable} onNewAttempt=${stats.reload} />`}
    </div>
  </section>`;
}

function StatsRow({ stats }) {
  const s = stats.data;
  if (!s) return stats.error ? html`<${ErrorNotice} error=${stats.error} />` : html`<${Loading} what="Loading numbers" />`;
  return html`<dl class="stats" aria-label="Last 24 hours">
    <div><dt>Attempts (24 h)</dt><dd>${fmtCount(s.attempts)}</dd></div>
    <div><dt>Success</dt><dd>${fmtPct(s.attempts ? s.delivered / s.attempts : null)}</dd></div>
    <div><dt>Latency p50 / p99</dt><dd>${fmtMs(s.latencyMs.p50)} / ${fmtMs(s.latencyMs.p99)}</dd></div>
    <div><dt>Queued</dt><dd>${fmtCount(s.queueDepth)}${s.inFlight ? ` (+${s.inFlight} in flight)` : ""}</dd></div>
    <div><dt>Dead letters</dt><dd>${fmtCount(s.deadLetterDepth)}</dd></div>
  </dl>`;
}

function Actions({ endpoint, onChanged }) {
  const [dialog, setDialog] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const path = `/endpoints/${seg(endpoint.id)}`;
  const run = async (work, { refresh = true } = {}) => {
    setBusy(true);
    setError(null);
    try {
      await work();
      if (refresh) onChanged();
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  };
  const close = () => setDialog(null);
  return html`<div class="action-bar">
    <button type="button" onClick=${() => setDialog("test")}>Send test event</button>
    <button type="button" onClick=${() => setDialog("secret")}>Signing secret</button>
    ${endpoint.active
      ? html`<button type="button" disabled=${busy} onClick=${() => run(() => api.post(`${path}/pause`))}>Pause</button>`
      : html`<button type="button" disabled=${busy} onClick=${() => run(() => api.post(`${path}/resume`))}>Resume</button>`}
    <button type="button" class="danger" onClick=${() => setDialog("delete")}>Delete…</button>
    <${ErrorNotice} error=${error} />
    <${Dialog} title="Send a test event" open=${dialog === "test"} onClose=${close}><${TestSend} endpoint=${endpoint} onDone=${onChanged} onClose=${close} /><//>
    <${Dialog} title="Signing secret" open=${dialog === "secret"} onClose=${close}><${Secret} endpoint=${endpoint} onClose=${close} /><//>
    <${Dialog} title=${`Delete ${endpoint.name}?`} open=${dialog === "delete"} onClose=${close}>
      <p>Deleting removes the endpoint, its queue, its dead letters and its subscription. Events stop at once; this cannot be undone.</p>
      <${TypedConfirm} word=${endpoint.name} action="Delete endpoint" busy=${busy} onCancel=${close}
        onConfirm=${() => run(async () => { await api.del(path); close(); location.hash = "#/endpoints"; }, { refresh: false })} />
    <//>
  </div>`;
}

function TestSend({ endpoint, onDone, onClose }) {
  const catalog = useCatalog();
  const types = (catalog.data || []).map((t) => t.name);
  const [type, setType] = useState("");
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const chosen = type || types[0] || "";
  const send = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setResult(await api.post(`/endpoints/${seg(endpoint.id)}/test`, { event: chosen }));
      onDone();
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="stack" onSubmit=${send}>
    <p>Posts the catalog's example of the type, signed, to ${endpoint.url}, once (no retries). It carries <code>X-Litestore-Test: true</code>.</p>
    <${Field} label="Event type">
      ${(id) => html`<select id=${id} value=${chosen} onChange=${(ev) => setType(ev.currentTarget.value)}>
        ${types.map((t) => html`<option value=${t}>${t}</option>`)}</select>`}
    <//>
    <div class="actions">
      <button type="submit" class="primary" disabled=${busy || !chosen}>${busy ? "Sending…" : "Send"}</button>
      <button type="button" onClick=${onClose}>Close</button>
    </div>
    <${ErrorNotice} error=${error} />
    ${result ? html`<div class="test-result" role="status"><${AttemptDetail} attempt=${result} /></div>` : null}
  </form>`;
}

const OVERLAPS = [[0, "stop signing with it at once"], [3600, "1 hour"], [86400, "24 hours"], [604800, "7 days"]];

function Secret({ endpoint, onClose }) {
  const [secret, setSecret] = useState(null);
  const [overlap, setOverlap] = useState(86400);
  const [rotated, setRotated] = useState(null);
  const [error, setError] = useState(null);
  const path = `/endpoints/${seg(endpoint.id)}/secret`;
  const reveal = () => api.get(path).then(setSecret, setError);
  const rotate = (e) => {
    e.preventDefault();
    api.post(`${path}/rotate`, { overlapSeconds: overlap }).then((r) => { setRotated(r); setSecret(null); }, setError);
  };
  return html`<div class="stack">
    <${ErrorNotice} error=${error} />
    ${secret ? html`<div><p>Current secret:</p><p><code class="secret" data-testid="secret">${secret.secret}</code> <${CopyButton} text=${secret.secret} /></p>
      ${secret.previousSecrets.length ? html`<p class="small">Older secrets still signing until: ${secret.previousSecrets.map((p) => html`<${Time} iso=${p.expiresAt} /> `)}</p>` : null}
      <button type="button" class="small" onClick=${() => setSecret(null)}>Hide</button></div>`
      : html`<p><button type="button" onClick=${reveal}>Reveal secret</button> <span class="muted small">Shown only on this click.</span></p>`}
    <form class="stack rotate" onSubmit=${rotate}>
      <h3>Rotate</h3>
      <p class="small">A new secret signs every delivery from now on. During the overlap the old one signs too, so receivers can switch without dropping deliveries.</p>
      <${Field} label="Keep the old secret signing for">
        ${(id) => html`<select id=${id} value=${overlap} onChange=${(e) => setOverlap(Number(e.currentTarget.value))}>
          ${OVERLAPS.map(([s, label]) => html`<option value=${s}>${label}</option>`)}</select>`}
      <//>
      <div class="actions"><button type="submit" class="primary">Rotate secret</button><button type="button" onClick=${onClose}>Close</button></div>
    </form>
    ${rotated ? html`<${Notice} kind="ok"><p>New secret: <code class="secret" data-testid="new-secret">${rotated.secret}</code> <${CopyButton} text=${rotated.secret} /></p>
      <p class="small">${rotated.previousSecretExpiresAt ? html`The old one signs too until <${Time} iso=${rotated.previousSecretExpiresAt} />.` : "The old one no longer signs."}</p><//>` : null}
  </div>`;
}

const STATUS_FILTERS = [["", "Any status"], ["delivered", "Delivered"], ["failed", "Failed (any unsuccessful)"],
  ["retry_scheduled", "Retry scheduled"], ["dead_lettered", "Dead-lettered"]];

function Attempts({ endpoint, writable, onNewAttempt }) {
  const catalog = useCatalog();
  const [filters, setFilters] = useState({ status: "", eventType: "", since: "", until: "" });
  const [draft, setDraft] = useState(filters);
  const [pages, setPages] = useState([]);
  const query = { status: filters.status, eventType: filters.eventType, since: fromLocalInput(filters.since), until: fromLocalInput(filters.until), limit: 25 };
  // The first page follows new attempts live; older pages load on demand.
  const first = useLoad(() => api.get(`/endpoints/${seg(endpoint.id)}/attempts`, query), [endpoint.id, JSON.stringify(filters)], { refreshMs: 3000 });
  useEffect(() => setPages([]), [endpoint.id, JSON.stringify(filters)]);
  // A new newest attempt changes the numbers above it: reload them now, not at their next refresh,
  // so a dead-lettered row never sits under "Dead letters 0".
  const newest = first.data && first.data.data[0];
  const newestKey = newest ? newest.at + newest.eventId + newest.attempt + newest.status : "";
  const seen = useRef("");
  useEffect(() => {
    if (newestKey && seen.current && newestKey !== seen.current && onNewAttempt) onNewAttempt();
    seen.current = newestKey;
  }, [newestKey]);
  const rows = [...(first.data ? first.data.data : []), ...pages.flatMap((p) => p.data)];
  const cursor = pages.length ? pages[pages.length - 1].nextCursor : first.data && first.data.nextCursor;
  const more = () => api.get(`/endpoints/${seg(endpoint.id)}/attempts`, { ...query, cursor }).then((p) => setPages([...pages, p]));
  const set = (name) => (e) => setDraft({ ...draft, [name]: e.currentTarget.value });
  const types = (catalog.data || []).map((t) => t.name);
  return html`<div>
    <form class="filters" onSubmit=${(e) => { e.preventDefault(); setFilters(draft); }} aria-label="Filter attempts">
      <${Field} label="Status">${(id) => html`<select id=${id} value=${draft.status} onChange=${set("status")}>
        ${STATUS_FILTERS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select>`}<//>
      <${Field} label="Event type">${(id) => html`<select id=${id} value=${draft.eventType} onChange=${set("eventType")}>
        <option value="">Any type</option>${types.map((t) => html`<option value=${t}>${t}</option>`)}</select>`}<//>
      <${Field} label="From">${(id) => html`<input id=${id} type="datetime-local" value=${draft.since} onInput=${set("since")} />`}<//>
      <${Field} label="Until">${(id) => html`<input id=${id} type="datetime-local" value=${draft.until} onInput=${set("until")} />`}<//>
      <div class="actions"><button type="submit">Apply</button>
        <button type="button" onClick=${() => { const none = { status: "", eventType: "", since: "", until: "" }; setDraft(none); setFilters(none); }}>Clear</button></div>
    </form>
    <${ErrorNotice} error=${first.error} />
    ${!first.data ? html`<${Loading} what="Loading attempts" />` : rows.length === 0 ? html`<p class="muted">No attempts match.</p>` : html`
      <div class="table-wrap"><table class="attempts">
        <caption class="sr-only">Delivery attempts, newest first</caption>
        <thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Try</th><th scope="col">Status</th>
          <th scope="col" class="num">HTTP</th><th scope="col" class="num">Latency</th><th scope="col"><span class="sr-only">Details</span></th></tr></thead>
        <tbody>${rows.map((a) => html`<${AttemptRow} key=${a.at + a.eventId + a.attempt} attempt=${a} endpoint=${endpoint} writable=${writable} />`)}</tbody>
      </table></div>
      ${cursor ? html`<p><button type="button" onClick=${more}>Load older attempts</button></p>` : null}`}
  </div>`;
}

function AttemptRow({ attempt: a, endpoint, writable }) {
  const [open, setOpen] = useState(false);
  return html`<tr class=${open ? "open" : ""}>
      <td><${Time} iso=${a.at} /></td>
      <td><span class="event-type">${a.eventType}</span> <a class="small" href=${href("events", a.eventId)}>${a.eventId}</a>${a.test ? html` <span class="badge">test</span>` : null}</td>
      <td class="num">${a.attempt}</td>
      <td><${StatusBadge} status=${a.status} /></td>
      <td class="num">${a.httpStatus ?? "—"}</td>
      <td class="num">${fmtMs(a.durationMs)}</td>
      <td><button type="button" class="small" aria-expanded=${open ? "true" : "false"} onClick=${() => setOpen(!open)}>${open ? "Hide" : "Details"}</button></td>
    </tr>
    ${open ? html`<tr class="detail"><td colspan="7"><${AttemptDetail} attempt=${a} endpoint=${endpoint} writable=${writable} /></td></tr>` : null}`;
}

/** One attempt: outcome, request headers (signatures redacted by the API), the receiver's answer. */
export function AttemptDetail({ attempt: a, endpoint, writable }) {
  const [resent, setResent] = useState(null);
  const resend = () => api.post(`/events/${seg(a.eventId)}/resend`, { endpointIds: [a.endpointId] })
    .then(() => setResent({ ok: true }), (error) => setResent({ error }));
  return html`<div class="attempt-detail">
    <dl class="facts">
      <div><dt>Status</dt><dd><${StatusBadge} status=${a.status} /> ${a.httpStatus ? `HTTP ${a.httpStatus}` : ""}</dd></div>
      <div><dt>Latency</dt><dd>${fmtMs(a.durationMs)}</dd></div>
      <div><dt>Attempt</dt><dd>${a.attempt}</dd></div>
      <div><dt>At</dt><dd><${Time} iso=${a.at} /></dd></div>
      ${a.nextRetryAt ? html`<div><dt>Next retry</dt><dd><${Time} iso=${a.nextRetryAt} /></dd></div>` : null}
      ${a.error ? html`<div class="wide"><dt>Error</dt><dd>${a.error}</dd></div>` : null}
    </dl>
    <h3>Request headers</h3>
    ${a.requestHeaders ? html`<div class="table-wrap"><table class="headers"><tbody>
      ${Object.entries(a.requestHeaders).map(([k, v]) => html`<tr><th scope="row">${k}</th><td><code>${v}</code></td></tr>`)}
    </tbody></table></div>` : html`<p class="muted">Not recorded for this attempt.</p>`}
    <h3>Response excerpt</h3>
    ${a.responseExcerpt ? html`<${Pre} value=${a.responseExcerpt} label="Response excerpt" />` : html`<p class="muted">No response body.</p>`}
    ${writable && endpoint && !a.test ? html`<p><button type="button" onClick=${resend}>Resend this event to ${endpoint.name}</button></p>` : null}
    ${a.test ? html`<p class="muted small">Test events are not stored, so they cannot be resent.</p>` : null}
    ${resent && resent.ok ? html`<${Notice} kind="ok">Queued again for ${endpoint.name}.<//>` : null}
    ${resent && resent.error ? html`<${ErrorNotice} error=${resent.error} />` : null}
  </div>`;
}

function DeadLetters({ endpoint, writable, onChanged }) {
  const path = `/endpoints/${seg(endpoint.id)}/dead-letters`;
  const letters = useLoad(() => api.get(path, { limit: 100 }), [endpoint.id]);
  const [selected, setSelected] = useState(new Set());
  const [peek, setPeek] = useState(null);
  const [outcome, setOutcome] = useState(null);
  const [purging, setPurging] = useState(false);
  const data = letters.data ? letters.data.data : [];
  const after = (result) => { setOutcome(result); setSelected(new Set()); letters.reload(); onChanged(); };
  const redrive = (ids) => api.post(`${path}/redrive`, ids ? { ids } : {}).then(
    (r) => after({ kind: "ok", text: `Redriven ${r.redriven}${r.failed ? `, ${r.failed} failed (retry)` : ""}; ${r.remaining} left.` }),
    (error) => setOutcome({ error }));
  const purge = () => api.del(path, { confirm: true }).then(
    (r) => { setPurging(false); after({ kind: "ok", text: `Purged ${r.purged} dead letters.` }); },
    (error) => { setPurging(false); setOutcome({ error }); });
  const toggle = (id, on) => { const next = new Set(selected); if (on) next.add(id); else next.delete(id); setSelected(next); };
  return html`<div>
    <p class="small muted">Peeking leaves the messages in the queue. About ${fmtCount(letters.data && letters.data.approximateCount)} in all.</p>
    ${outcome && outcome.error ? html`<${ErrorNotice} error=${outcome.error} />` : outcome ? html`<${Notice} kind="ok">${outcome.text}<//>` : null}
    <${ErrorNotice} error=${letters.error} />
    ${writable && data.length ? html`<div class="action-bar">
      <button type="button" class="primary" disabled=${!selected.size} onClick=${() => redrive([...selected])}>Redrive selected (${selected.size})</button>
      <button type="button" onClick=${() => redrive(null)}>Redrive all</button>
      <button type="button" class="danger" onClick=${() => setPurging(true)}>Purge…</button>
      <button type="button" class="link" onClick=${letters.reload}>Refresh</button>
    </div>` : null}
    ${!letters.data ? html`<${Loading} what="Peeking at dead letters" />` : data.length === 0 ? html`<p class="muted">No dead letters.</p>` : html`
      <div class="table-wrap"><table class="dead-letters">
        <caption class="sr-only">Dead letters</caption>
        <thead><tr>${writable ? html`<th scope="col"><span class="sr-only">Select</span></th>` : null}<th scope="col">Event</th><th scope="col">Reason</th>
          <th scope="col" class="num">Last HTTP</th><th scope="col" class="num">Attempts</th><th scope="col">Last attempt</th><th scope="col"><span class="sr-only">Peek</span></th></tr></thead>
        <tbody>${data.map((d) => html`<tr>
          ${writable ? html`<td><input type="checkbox" aria-label=${`Select ${d.id}`} checked=${selected.has(d.id)} onChange=${(e) => toggle(d.id, e.currentTarget.checked)} /></td>` : null}
          <td><span class="event-type">${d.event}</span> <a class="small" href=${href("events", d.id || "")}>${d.id}</a></td>
          <td>${(d.reason || "").replace(/_/g, " ")}</td>
          <td class="num">${d.lastStatus ?? "—"}</td>
          <td class="num">${d.attempts ?? "—"}</td>
          <td><${Time} iso=${d.lastAttemptAt} /></td>
          <td><button type="button" class="small" onClick=${() => setPeek(d)}>Peek</button></td>
        </tr>`)}</tbody>
      </table></div>`}
    <${Dialog} title="Dead letter" open=${!!peek} onClose=${() => setPeek(null)}>
      ${peek ? html`<div class="stack"><${Pre} value=${peek} label="Dead letter" />
        <p><a href=${href("events", peek.id || "")}>Open the event and its payload</a></p>
        <div class="actions"><button type="button" onClick=${() => setPeek(null)}>Close</button></div></div>` : null}
    <//>
    <${Dialog} title="Purge every dead letter?" open=${purging} onClose=${() => setPurging(false)}>
      <p>Purging deletes all of ${endpoint.name}'s dead letters for good. Stored events can still be replayed.</p>
      <${TypedConfirm} word="purge" action="Purge dead letters" onConfirm=${purge} onCancel=${() => setPurging(false)} />
    <//>
  </div>`;
}

function Replay({ endpoint }) {
  const now = new Date();
  const [since, setSince] = useState(toLocalInput(new Date(now - 24 * 3600 * 1000)));
  const [until, setUntil] = useState(toLocalInput(new Date(now.getTime() + 60 * 1000)));
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const run = (from) => api.post(`/endpoints/${seg(endpoint.id)}/replay`, { since: from || fromLocalInput(since), until: fromLocalInput(until) })
    .then((r) => { setResult(r); setError(null); }, setError);
  const errors = {};
  for (const d of (error && error.details) || []) errors[String(d.path).replace(/^body\./, "")] = d.message;
  return html`<form class="stack" onSubmit=${(e) => { e.preventDefault(); run(); }}>
    <p>Delivers the stored events received in this window again, to ${endpoint.name} only (at most 20 per second). Other endpoints are not affected.</p>
    <div class="grid">
      <${Field} label="From" error=${errors.since}>${(id) => html`<input id=${id} type="datetime-local" required value=${since} onInput=${(e) => setSince(e.currentTarget.value)} />`}<//>
      <${Field} label="Until" error=${errors.until}>${(id) => html`<input id=${id} type="datetime-local" required value=${until} onInput=${(e) => setUntil(e.currentTarget.value)} />`}<//>
    </div>
    <div class="actions"><button type="submit" class="primary">Replay</button></div>
    ${error && !Object.keys(errors).length ? html`<${ErrorNotice} error=${error} />` : null}
    ${result ? html`<${Notice} kind="ok">Queued ${fmtCount(result.queued)} events${result.failed ? `, ${result.failed} failed` : ""}.
      ${result.truncated ? html` More remain: <button type="button" class="link" onClick=${() => run(result.nextSince)}>continue from <${Time} iso=${result.nextSince} /></button>` : null}<//>` : null}
  </form>`;
}

