// The console: opens the session (portal link in the URL fragment, or the cookie), then routes
// hash URLs (#/endpoints/ep_...) to the screens. The fragment never reaches a server or a log.
import { html, render, useEffect, useState } from "./vendor.js";
import { currentSession, openSession, signOut } from "./api.js";
import { Overview } from "./overview.js";
import { EndpointList, NewEndpoint } from "./endpoints.js";
import { EndpointDetail } from "./endpoint.js";
import { Events } from "./events.js";
import { Catalog } from "./catalog.js";
import { fmtTime } from "./ui.js";

const NAV = [
  ["", "Overview"],
  ["endpoints", "Endpoints"],
  ["events", "Events"],
  ["catalog", "Event catalog"],
];

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("?")[0].split("/").filter(Boolean).map(decodeURIComponent);
  return parts;
}

function Screen({ parts, session }) {
  const [section, id, tab] = parts;
  if (section === "endpoints" && id === "new") return html`<${NewEndpoint} session=${session} />`;
  if (section === "endpoints" && id) return html`<${EndpointDetail} id=${id} tab=${tab || "attempts"} session=${session} />`;
  if (section === "endpoints") return html`<${EndpointList} session=${session} />`;
  if (section === "events") return html`<${Events} eventId=${id} session=${session} />`;
  if (section === "catalog") return html`<${Catalog} session=${session} />`;
  return html`<${Overview} session=${session} />`;
}

function SessionBadge({ session }) {
  const scope = session.endpointIds ? `${session.endpointIds.length} endpoint${session.endpointIds.length === 1 ? "" : "s"}` : "all endpoints";
  return html`<p class="session" aria-label="Your session">
    ${session.readOnly ? html`<span class="badge paused">read-only</span> ` : null}
    <span>${scope}</span> · <span>until ${fmtTime(session.expiresAt)}</span>
  </p>`;
}

function Shell({ session, onSignOut }) {
  const [parts, setParts] = useState(route());
  useEffect(() => {
    const changed = () => {
      setParts(route());
      const main = document.getElementById("main");
      if (main) main.focus({ preventScroll: true });
    };
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  const current = parts[0] || "";
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById("main").focus(); }}>Skip to content</a>
    <header class="top">
      <div class="brand"><span class="crumb">Settings ›</span> <strong>Webhooks</strong></div>
      <nav aria-label="Console">
        <ul>
          ${NAV.map(([key, label]) => html`<li><a href=${"#/" + key} aria-current=${current === key ? "page" : undefined}>${label}</a></li>`)}
        </ul>
      </nav>
      <div class="who">
        <${SessionBadge} session=${session} />
        <button type="button" class="small" onClick=${onSignOut}>Sign out</button>
      </div>
    </header>
    <main id="main" tabindex="-1"><${Screen} parts=${parts} session=${session} /></main>`;
}

function SignedOut({ reason }) {
  return html`<main id="main" class="signin">
    <h1>Webhooks console</h1>
    ${reason ? html`<div class="notice error" role="alert">${reason}</div>` : null}
    <p>Open the console with a link:</p>
    <ul>
      <li>operators: <code>litestore-webhooks --local console</code> (or <code>--stack NAME</code>) opens one;</li>
      <li>embedding: <code>POST /portal/sessions</code> returns one for your own admin page.</li>
    </ul>
    <p class="muted">Links work once and expire; ask for a new one when this one has been used.</p>
  </main>`;
}

function linkProblem(error) {
  if (error.code === "link_used") return "This console link was already used. Each link opens one session: ask for a new one.";
  if (error.status === 401) return "This console link is not valid: it has expired, was revoked, or was copied incompletely.";
  return `Could not open the session: ${error.message}`;
}

function App() {
  const [state, setState] = useState({ phase: "loading" });
  useEffect(() => {
    const start = async () => {
      const match = location.hash.match(/^#token=([A-Za-z0-9._-]+)/);
      if (match) {
        // Out of the address bar and the history at once, before anything else runs.
        history.replaceState(null, "", location.pathname + location.search + "#/");
        try {
          return setState({ phase: "in", session: await openSession(match[1]) });
        } catch (error) {
          return setState({ phase: "out", reason: linkProblem(error) });
        }
      }
      const session = await currentSession();
      setState(session ? { phase: "in", session } : { phase: "out" });
    };
    const run = () => start().catch((error) => setState({ phase: "out", reason: `Could not reach the API: ${error.message}` }));
    run();
    // A new link opened in this tab changes only the fragment: no page load, so watch for it.
    const linkOpened = () => { if (location.hash.startsWith("#token=")) { setState({ phase: "loading" }); run(); } };
    const expired = () => setState({ phase: "out", reason: "Your session has ended (expired, or its key was rotated). Open a new console link." });
    window.addEventListener("hashchange", linkOpened);
    window.addEventListener("lsw:unauthorized", expired);
    return () => {
      window.removeEventListener("hashchange", linkOpened);
      window.removeEventListener("lsw:unauthorized", expired);
    };
  }, []);
  if (state.phase === "loading") return html`<p class="boot" role="status">Opening the console…</p>`;
  if (state.phase === "out") return html`<${SignedOut} reason=${state.reason} />`;
  const out = () => signOut().finally(() => setState({ phase: "out", reason: "You signed out." }));
  return html`<${Shell} session=${state.session} onSignOut=${out} />`;
}

render(html`<${App} />`, document.getElementById("app"));
