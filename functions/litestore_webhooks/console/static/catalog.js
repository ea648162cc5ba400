// Event catalog: every stored type with its description, schema version, mode, deprecation, data
// schema and first example (GET /event-types). Read-only: the catalog is the deployment's, changed by
// the admin (CLI `event-types`, the admin API); console sessions only read it (admin/access.py).
import { html, useEffect, useMemo, useState } from "./vendor.js";
import { api } from "./api.js";
import { ErrorNotice, Field, Loading, Pre, markReady, useLoad } from "./ui.js";

export function Catalog({ session }) {
  const catalog = useLoad(() => api.get("/event-types").then((r) => r.data), []);
  useEffect(() => { if (catalog.data) markReady(); }, [catalog.data]);
  const [filter, setFilter] = useState("");
  const shown = useMemo(() => (catalog.data || []).filter((t) => t.name.includes(filter.trim()) || t.description.toLowerCase().includes(filter.trim().toLowerCase())), [catalog.data, filter]);
  const canEdit = false; // catalog writes are admin-only routes: no console session may make them
  return html`<section aria-labelledby="catalog-title">
    <h1 id="catalog-title">Event catalog</h1>
    <p class="muted">The event types the store publishes. Subscribe to a type, a namespace (<code>order.*</code>) or everything (<code>*</code>).</p>
    <${Field} label="Filter">${(id) => html`<input id=${id} type="search" value=${filter} onInput=${(e) => setFilter(e.currentTarget.value)} />`}<//>
    <${ErrorNotice} error=${catalog.error} />
    ${!catalog.data ? html`<${Loading} what="Loading the catalog" />` : html`<ul class="catalog">
      ${shown.map((t) => html`<li key=${t.name}><${EventTypeEntry} type=${t} canEdit=${canEdit && !session.readOnly} /></li>`)}
    </ul>`}
  </section>`;
}

function EventTypeEntry({ type }) {
  const deprecation = type.deprecation || {};
  const example = (type.examples || [])[0];
  return html`<details class="event-type-entry">
    <summary><span class="event-type">${type.name}</span>
      ${type.deprecated ? html` <span class="badge warn">deprecated</span>` : ""}
      <span class="muted">v${type.version}${type.mode === "accept" ? ", any data accepted" : ""}</span>
      <span class="muted">${type.description}</span></summary>
    ${type.deprecated ? html`<p class="muted">Deprecated${deprecation.message ? `: ${deprecation.message}` : ""}${deprecation.replacement ? ` Use ${deprecation.replacement}.` : ""} Still delivered.</p>` : ""}
    <div class="two-col">
      <div><h3>Data schema</h3><${Pre} value=${type.schema} label=${`${type.name} schema`} /></div>
      <div><h3>Example</h3>${example ? html`<${Pre} value=${example} label=${`${type.name} example`} />` : html`<p class="muted">No example yet.</p>`}</div>
    </div>
  </details>`;
}
