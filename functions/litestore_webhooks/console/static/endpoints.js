// Endpoints: the list (state, 24 h success rate, queue and dead-letter depth) and the create/edit
// form, whose fields show the API's own validation errors.
import { html, useEffect, useMemo, useRef, useState } from "./vendor.js";
import { api } from "./api.js";
import {
  CopyButton, ErrorNotice, Field, Loading, Notice, StateBadge, fieldErrors, fmtCount, fmtPct, href, markReady, useLoad,
} from "./ui.js";

export function useCatalog() {
  return useLoad(() => api.get("/event-types").then((r) => r.data), []);
}

export function EndpointList({ session }) {
  const stats = useLoad(() => api.get("/stats", { window: "24h" }), [], { refreshMs: 15000 });
  useEffect(() => { if (stats.data) markReady(); }, [stats.data]);
  const canCreate = !session.readOnly && !session.endpointIds;
  const rows = stats.data ? stats.data.endpoints : [];
  return html`<section aria-labelledby="endpoints-title">
    <div class="title-row">
      <h1 id="endpoints-title">Endpoints</h1>
      ${canCreate ? html`<a class="button primary" href="#/endpoints/new">New endpoint</a>` : null}
    </div>
    <${ErrorNotice} error=${stats.error} />
    ${!stats.data ? html`<${Loading} what="Loading endpoints" />` : rows.length === 0 ? html`
      <p class="muted">No endpoints yet.${canCreate ? " Add one to start receiving events." : ""}</p>` : html`
      <div class="table-wrap"><table class="endpoints">
        <caption class="sr-only">Endpoints with their last 24 hours</caption>
        <thead><tr>
          <th scope="col">Name</th><th scope="col">URL</th><th scope="col">State</th>
          <th scope="col" class="num">Success (24 h)</th><th scope="col" class="num">Queued</th><th scope="col" class="num">Dead letters</th>
        </tr></thead>
        <tbody>${rows.map((e) => html`<tr>
          <th scope="row"><a href=${href("endpoints", e.id)}>${e.name}</a></th>
          <td class="url">${e.url}</td>
          <td><${StateBadge} endpoint=${e} /></td>
          <td class="num">${fmtPct(e.successRate)} <span class="muted small">(${fmtCount(e.attempts)})</span></td>
          <td class="num">${fmtCount(e.queueDepth)}</td>
          <td class="num">${fmtCount(e.deadLetterDepth)}</td>
        </tr>`)}</tbody>
      </table></div>`}
  </section>`;
}

export function NewEndpoint({ session }) {
  const [created, setCreated] = useState(null);
  useEffect(() => markReady(), []);
  if (session.readOnly || session.endpointIds) {
    return html`<${Notice} kind="error">This session cannot create endpoints.<//>`;
  }
  if (created) {
    return html`<section aria-labelledby="created-title">
      <h1 id="created-title">Endpoint created</h1>
      <${Notice} kind="ok">
        <p><strong>${created.name}</strong> receives its events from now on. Its signing secret:</p>
        <p><code class="secret">${created.secret}</code> <${CopyButton} text=${created.secret} /></p>
        <p class="small">Keep it in your receiver's configuration. It is shown again only when you reveal it.</p>
      <//>
      <p><a class="button primary" href=${href("endpoints", created.id)}>Open ${created.name}</a></p>
    </section>`;
  }
  return html`<section aria-labelledby="new-title">
    <h1 id="new-title">New endpoint</h1>
    <${EndpointForm} onSaved=${setCreated} />
  </section>`;
}

const DEFAULTS = {
  name: "", url: "", description: "", events: [], secret: "", timeout: 10000, maxConcurrency: 10, rateLimit: NaN,
  retryPolicy: { maxAttempts: 5, initialDelay: 1000, backoffMultiplier: 2, maxDelay: 30000 },
  headersText: "", sensitiveText: "", dropSensitive: false,
};

/** "Name: value" lines <-> a header map (blank lines ignored; the API checks names and values). */
const headersToText = (headers) => Object.entries(headers || {}).map(([k, v]) => `${k}: ${v}`).join("\n");
function textToHeaders(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf(":");
    out[(at < 0 ? line : line.slice(0, at)).trim()] = at < 0 ? "" : line.slice(at + 1).trim();
  }
  return out;
}

/** Create (no `endpoint`) or edit an endpoint. Only changed fields are sent on edit. */
export function EndpointForm({ endpoint, onSaved }) {
  const catalog = useCatalog();
  const initial = useMemo(() => (endpoint ? {
    ...DEFAULTS, ...endpoint, description: endpoint.description || "", retryPolicy: { ...endpoint.retryPolicy },
    rateLimit: endpoint.rateLimit ?? NaN, headersText: headersToText(endpoint.headers),
  } : DEFAULTS), [endpoint]);
  const [form, setForm] = useState(initial);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  const errors = fieldErrors(error);
  useEffect(() => {  // take the keyboard (and the eye) to the first field the API refused, or the summary
    const form = formRef.current;
    const target = error && form && (form.querySelector('[aria-invalid="true"]') || form.querySelector('[role="alert"]'));
    if (target) { target.setAttribute("tabindex", target.getAttribute("tabindex") || "-1"); target.focus(); }
  }, [error]);
  const set = (name) => (e) => setForm({ ...form, [name]: e.currentTarget.value });
  const setNum = (name) => (e) => setForm({ ...form, [name]: e.currentTarget.valueAsNumber });
  const setRetry = (name) => (e) => setForm({ ...form, retryPolicy: { ...form.retryPolicy, [name]: e.currentTarget.valueAsNumber } });

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body = {
      name: form.name.trim() || undefined, url: form.url.trim(), events: form.events,
      description: form.description.trim() || null, timeout: form.timeout, maxConcurrency: form.maxConcurrency,
      retryPolicy: form.retryPolicy, rateLimit: Number.isNaN(form.rateLimit) ? null : form.rateLimit,
      headers: textToHeaders(form.headersText),
    };
    // Sensitive values are never shown, so they are sent only when typed (or removed on purpose).
    if (form.sensitiveText.trim()) body.sensitiveHeaders = textToHeaders(form.sensitiveText);
    else if (form.dropSensitive) body.sensitiveHeaders = {};
    if (!endpoint) {
      if (form.secret) body.secret = form.secret;
      if (body.description === null) delete body.description;
      if (body.rateLimit === null) delete body.rateLimit;
      if (!Object.keys(body.headers).length) delete body.headers;
    }
    const before = endpoint ? { ...endpoint, description: endpoint.description || null, rateLimit: endpoint.rateLimit ?? null,
      headers: endpoint.headers || {}, sensitiveHeaders: undefined } : {};
    const changes = Object.fromEntries(Object.entries(body).filter(([k, v]) => v !== undefined && JSON.stringify(v) !== JSON.stringify(before[k])));
    try {
      const saved = endpoint
        ? await api.patch(`/endpoints/${encodeURIComponent(endpoint.id)}`, changes)
        : await api.post("/endpoints", changes);
      onSaved(saved);
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  };
  const unplaced = Object.entries(errors).filter(([path]) => !KNOWN_FIELDS.some((f) => path === f || path.startsWith(f + ".")));
  const num = (value) => (Number.isNaN(value) ? "" : value);
  return html`<form class="endpoint-form" ref=${formRef} onSubmit=${submit} noValidate>
    ${error ? html`<div class="notice error" role="alert">
      <strong>${error.code === "validation_failed" ? "Please correct the fields below." : error.message}</strong>
      ${unplaced.length ? html`<ul>${unplaced.map(([path, message]) => html`<li>${path}: ${message}</li>`)}</ul>` : null}
    </div>` : null}
    <div class="grid">
      <${Field} label="Name" hint="Defaults to the URL's host" error=${errors.name}>
        ${(id, described) => html`<input id=${id} name="name" value=${form.name} maxlength="100" onInput=${set("name")} aria-describedby=${described} aria-invalid=${errors.name ? "true" : undefined} />`}
      <//>
      <${Field} label="URL" error=${errors.url} wide>
        ${(id, described) => html`<input id=${id} name="url" type="url" required value=${form.url} placeholder="https://your-app.example/webhooks/litestore"
          onInput=${set("url")} aria-describedby=${described} aria-invalid=${errors.url ? "true" : undefined} />`}
      <//>
      <${Field} label="Description" error=${errors.description} wide>
        ${(id, described) => html`<input id=${id} name="description" value=${form.description} maxlength="500" onInput=${set("description")} aria-describedby=${described} />`}
      <//>
    </div>
    <${EventPicker} catalog=${catalog} value=${form.events} error=${errors.events} onChange=${(events) => setForm({ ...form, events })} />
    <fieldset class="group">
      <legend>Delivery</legend>
      <div class="grid">
        <${Field} label="Timeout (ms)" hint="1 to 30000" error=${errors.timeout}>
          ${(id, described) => html`<input id=${id} name="timeout" type="number" min="1" max="30000" value=${num(form.timeout)} onInput=${setNum("timeout")} aria-describedby=${described} aria-invalid=${errors.timeout ? "true" : undefined} />`}
        <//>
        <${Field} label="Max concurrency" hint="Parallel deliveries, 2 to 1000" error=${errors.maxConcurrency}>
          ${(id, described) => html`<input id=${id} name="maxConcurrency" type="number" min="2" max="1000" value=${num(form.maxConcurrency)} onInput=${setNum("maxConcurrency")} aria-describedby=${described} aria-invalid=${errors.maxConcurrency ? "true" : undefined} />`}
        <//>
        <${Field} label="Rate limit (events/s)" hint="Empty for none; at least max concurrency / 20" error=${errors.rateLimit}>
          ${(id, described) => html`<input id=${id} name="rateLimit" type="number" min="0" step="0.1" value=${num(form.rateLimit)} onInput=${setNum("rateLimit")} aria-describedby=${described} aria-invalid=${errors.rateLimit ? "true" : undefined} />`}
        <//>
      </div>
    </fieldset>
    <fieldset class="group">
      <legend>Custom headers</legend>
      <div class="grid">
        <${Field} label="Headers" hint="One Name: value per line, sent with every delivery" error=${errors.headers} wide>
          ${(id, described) => html`<textarea id=${id} name="headers" rows="3" value=${form.headersText} onInput=${set("headersText")} aria-describedby=${described} aria-invalid=${errors.headers ? "true" : undefined}></textarea>`}
        <//>
        <${Field} label="Sensitive headers" error=${errors.sensitiveHeaders} wide
          hint=${endpoint && Object.keys(endpoint.sensitiveHeaders || {}).length
            ? `Stored, never shown: ${Object.keys(endpoint.sensitiveHeaders).join(", ")}. Type Name: value lines to replace them all; leave empty to keep them`
            : "One Name: value per line (e.g. Authorization: Bearer …), stored encrypted and never shown again"}>
          ${(id, described) => html`<textarea id=${id} name="sensitiveHeaders" rows="2" autocomplete="off" spellcheck=${false} value=${form.sensitiveText} onInput=${set("sensitiveText")} aria-describedby=${described} aria-invalid=${errors.sensitiveHeaders ? "true" : undefined}></textarea>`}
        <//>
      </div>
      ${endpoint && Object.keys(endpoint.sensitiveHeaders || {}).length ? html`<label class="check"><input type="checkbox" name="dropSensitive" checked=${form.dropSensitive}
        onChange=${(e) => setForm({ ...form, dropSensitive: e.currentTarget.checked })} /> Remove the stored sensitive headers</label>` : null}
    </fieldset>
    <fieldset class="group">
      <legend>Retry policy</legend>
      <div class="grid">
        ${[["maxAttempts", "Max attempts", "1 to 20"], ["initialDelay", "Initial delay (ms)", "Before the first retry"],
           ["backoffMultiplier", "Backoff multiplier", "1 to 10"], ["maxDelay", "Max delay (ms)", "Longest wait between tries"]].map(([key, label, hint]) => {
          const err = errors[`retryPolicy.${key}`] || (key === "maxDelay" ? errors.retryPolicy : undefined);
          return html`<${Field} label=${label} hint=${hint} error=${err}>
            ${(id, described) => html`<input id=${id} name=${"retry-" + key} type="number" step=${key === "backoffMultiplier" ? "0.1" : "1"}
              value=${num(form.retryPolicy[key])} onInput=${setRetry(key)} aria-describedby=${described} aria-invalid=${err ? "true" : undefined} />`}
          <//>`;
        })}
      </div>
    </fieldset>
    ${endpoint ? null : html`<${Field} label="Signing secret (optional)" hint="Leave empty to generate a whsec_ secret" error=${errors.secret} wide>
      ${(id, described) => html`<input id=${id} name="secret" type="password" autocomplete="new-password" value=${form.secret} onInput=${set("secret")} aria-describedby=${described} aria-invalid=${errors.secret ? "true" : undefined} />`}
    <//>`}
    <div class="actions">
      <button type="submit" class="primary" disabled=${busy}>${busy ? "Saving…" : endpoint ? "Save changes" : "Create endpoint"}</button>
    </div>
  </form>`;
}

const KNOWN_FIELDS = ["name", "url", "description", "events", "timeout", "maxConcurrency", "rateLimit", "headers",
  "sensitiveHeaders", "retryPolicy", "secret"];

/** Event types from the catalog, grouped by namespace, with "*" and "namespace.*" wildcards. */
export function EventPicker({ catalog, value, error, onChange }) {
  const chosen = new Set(value);
  const groups = useMemo(() => {
    const out = {};
    for (const type of (catalog.data || [])) (out[type.name.split(".")[0]] ||= []).push(type);
    return Object.entries(out);
  }, [catalog.data]);
  const toggle = (pattern, on) => {
    const next = new Set(chosen);
    if (on) next.add(pattern); else next.delete(pattern);
    onChange([...next]);
  };
  const all = chosen.has("*");
  const custom = value.filter((p) => p !== "*" && !p.endsWith(".*") && !(catalog.data || []).some((t) => t.name === p));
  return html`<fieldset class=${"group events" + (error ? " invalid" : "")} aria-describedby=${error ? "events-err" : undefined}>
    <legend>Event types</legend>
    ${catalog.error ? html`<${ErrorNotice} error=${catalog.error} />` : null}
    ${!catalog.data ? html`<${Loading} what="Loading the catalog" />` : html`
      <label class="check"><input type="checkbox" checked=${all} onChange=${(e) => toggle("*", e.currentTarget.checked)} /> All events (<code>*</code>)</label>
      <div class="namespaces">
        ${groups.map(([ns, types]) => {
          const wild = chosen.has(`${ns}.*`);
          return html`<div class="namespace" role="group" aria-label=${`${ns} events`}>
            <label class="check strong"><input type="checkbox" disabled=${all} checked=${all || wild}
              onChange=${(e) => toggle(`${ns}.*`, e.currentTarget.checked)} /> All <code>${ns}.*</code></label>
            ${types.map((t) => html`<label class="check" title=${t.description}><input type="checkbox" disabled=${all || wild}
              checked=${all || wild || chosen.has(t.name)} onChange=${(e) => toggle(t.name, e.currentTarget.checked)} /> ${t.name}</label>`)}
          </div>`;
        })}
      </div>
      ${custom.length ? html`<p class="hint">Also subscribed: ${custom.join(", ")}</p>` : null}`}
    ${error ? html`<p class="field-error" id="events-err">${error}</p>` : null}
  </fieldset>`;
}
