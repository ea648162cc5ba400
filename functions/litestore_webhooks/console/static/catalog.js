// Event catalog: every type with its description, data schema and a full example.
// Read-only for now. Editing arrives with the catalog work (issue 16): it will add an `onEdit`
// per entry and a "New type" action here, gated on the session the same way endpoint changes are
// (`canEdit`), without changing how entries are listed.
import { html, useEffect, useMemo, useState } from "./vendor.js";
import { api } from "./api.js";
import { ErrorNotice, Field, Loading, Pre, markReady, useLoad } from "./ui.js";

export function Catalog({ session }) {
  const catalog = useLoad(() => api.get("/event-types").then((r) => r.data), []);
  useEffect(() => { if (catalog.data) markReady(); }, [catalog.data]);
  const [filter, setFilter] = useState("");
  const shown = useMemo(() => (catalog.data || []).filter((t) => t.name.includes(filter.trim()) || t.description.toLowerCase().includes(filter.trim().toLowerCase())), [catalog.data, filter]);
  const canEdit = false; // until the catalog API accepts changes (session.readOnly would gate it then)
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
  return html`<details class="event-type-entry">
    <summary><span class="event-type">${type.name}</span> <span class="muted">${type.description}</span></summary>
    <div class="two-col">
      <div><h3>Data schema</h3><${Pre} value=${type.schema} label=${`${type.name} schema`} /></div>
      <div><h3>Example</h3><${Pre} value=${type.example} label=${`${type.name} example`} /></div>
    </div>
  </details>`;
}
