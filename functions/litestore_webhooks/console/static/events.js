// Events: find one by id, its payload, every endpoint's attempts, resend to chosen endpoints.
import { html, useEffect, useMemo, useRef, useState } from "./vendor.js";
import { all, api, seg } from "./api.js";
import { ErrorNotice, Field, Loading, Notice, Pre, StatusBadge, Time, fmtMs, href, markReady, subscribes, useLoad } from "./ui.js";

export function Events({ eventId, session }) {
  const [draft, setDraft] = useState(eventId || "");
  const shown = useRef(eventId);
  useEffect(() => {  // another event in the URL: show its id (not on the first render: typing may have begun)
    if (shown.current !== eventId) setDraft(eventId || "");
    shown.current = eventId;
  }, [eventId]);
  useEffect(() => { if (!eventId) markReady(); }, [eventId]);
  const find = (e) => {
    e.preventDefault();
    const wanted = e.currentTarget.elements["event-id"].value.trim();  // what is in the field now
    if (wanted) location.hash = href("events", wanted);
  };
  return html`<section aria-labelledby="events-title">
    <h1 id="events-title">Events</h1>
    <form class="search" role="search" onSubmit=${find}>
      <${Field} label="Event id" hint="The id the store sent (also the webhook-id header receivers see)">
        ${(id, described) => html`<input id=${id} name="event-id" value=${draft} spellcheck="false" autocomplete="off"
          placeholder="evt_..." onInput=${(ev) => setDraft(ev.currentTarget.value)} aria-describedby=${described} />`}
      <//>
      <div class="actions"><button type="submit" class="primary">Find</button></div>
    </form>
    ${eventId ? html`<${EventView} key=${eventId} eventId=${eventId} session=${session} />` : null}
  </section>`;
}

function EventView({ eventId, session }) {
  const event = useLoad(() => api.get(`/events/${seg(eventId)}`), [eventId]);
  const attempts = useLoad(() => api.get(`/events/${seg(eventId)}/attempts`).then((r) => r.data), [eventId], { refreshMs: 5000 });
  const endpoints = useLoad(() => all("/endpoints"), []);
  useEffect(() => { if (event.data || event.error) markReady(); }, [event.data, event.error]);
  const names = useMemo(() => Object.fromEntries((endpoints.data || []).map((e) => [e.id, e.name])), [endpoints.data]);
  const notStored = event.error && event.error.status === 404;
  return html`<div class="event">
    ${notStored ? html`<${Notice}>Event <code>${eventId}</code> is not stored: unknown, older than the retention period, or a test event (those are logged but not kept).<//>`
      : html`<${ErrorNotice} error=${event.error} />`}
    ${event.data ? html`<dl class="facts">
        <div><dt>Type</dt><dd><span class="event-type">${event.data.event}</span></dd></div>
        <div><dt>Id</dt><dd><code>${event.data.id}</code></dd></div>
        <div><dt>Timestamp</dt><dd><${Time} iso=${event.data.timestamp} /></dd></div>
        <div><dt>Received</dt><dd><${Time} iso=${event.data.receivedAt} /></dd></div>
      </dl>
      <h2>Payload</h2>
      <${Pre} value=${event.data.payload} label="Event payload" />` : event.loading ? html`<${Loading} what="Looking for the event" />` : null}
    <h2>Attempts</h2>
    <${ErrorNotice} error=${attempts.error} />
    ${!attempts.data ? html`<${Loading} what="Loading attempts" />` : attempts.data.length === 0 ? html`<p class="muted">No delivery attempt yet.</p>` : html`
      <div class="table-wrap"><table>
        <thead><tr><th scope="col">Time</th><th scope="col">Endpoint</th><th scope="col">Try</th><th scope="col">Status</th><th scope="col" class="num">HTTP</th><th scope="col" class="num">Latency</th></tr></thead>
        <tbody>${attempts.data.map((a) => html`<tr>
          <td><${Time} iso=${a.at} /></td>
          <td><a href=${href("endpoints", a.endpointId)}>${names[a.endpointId] || a.endpointId}</a></td>
          <td class="num">${a.attempt}</td><td><${StatusBadge} status=${a.status} /></td>
          <td class="num">${a.httpStatus ?? "—"}</td><td class="num">${fmtMs(a.durationMs)}</td>
        </tr>`)}</tbody>
      </table></div>`}
    ${event.data && !session.readOnly && endpoints.data ? html`<${Resend} event=${event.data} endpoints=${endpoints.data} onSent=${attempts.reload} />` : null}
  </div>`;
}

function Resend({ event, endpoints, onSent }) {
  const candidates = endpoints.filter((e) => subscribes(e.events, event.event));
  const [chosen, setChosen] = useState(new Set());
  const [result, setResult] = useState(null);
  if (!candidates.length) return html`<p class="muted">No endpoint subscribes to ${event.event}, so there is none to resend to.</p>`;
  const toggle = (id, on) => { const next = new Set(chosen); if (on) next.add(id); else next.delete(id); setChosen(next); };
  const send = (e) => {
    e.preventDefault();
    api.post(`/events/${seg(event.id)}/resend`, { endpointIds: [...chosen] })
      .then((r) => { setResult({ text: `Queued for ${r.queued} endpoint${r.queued === 1 ? "" : "s"}.` }); onSent(); }, (error) => setResult({ error }));
  };
  return html`<form class="stack" onSubmit=${send}>
    <h2>Resend</h2>
    <fieldset class="group"><legend>Deliver this event again to</legend>
      ${candidates.map((e) => html`<label class="check"><input type="checkbox" checked=${chosen.has(e.id)} onChange=${(ev) => toggle(e.id, ev.currentTarget.checked)} /> ${e.name}</label>`)}
    </fieldset>
    <div class="actions"><button type="submit" class="primary" disabled=${!chosen.size}>Resend to ${chosen.size || "…"}</button></div>
    ${result && result.error ? html`<${ErrorNotice} error=${result.error} />` : result ? html`<${Notice} kind="ok">${result.text}<//>` : null}
  </form>`;
}
