// The authd operator console: a client of authd's public JSON API, nothing more.
//
// - The service token the person pastes in is kept in this tab's sessionStorage only: never in a
//   URL, a cookie or a log line. "Sign out" forgets it.
// - What the console offers follows the token's scopes (GET /api/v1/tokens/self): an action the
//   token may not do is not offered, and a 403 from the API is shown as such.
// - Every value that comes from the API is put in the page as text (textContent, text nodes,
//   attribute values): never parsed as HTML. There is no innerHTML in this file.
// - A minted token is shown once and removed from the page when dismissed; a pasted token and an
//   otpauth:// URI (which carries a secret) are cleared from their fields once used.
// - The page's Content-Security-Policy allows this file and the console's own files only: no
//   inline script or style, no other origin.
(function () {
  "use strict";

  const TOKEN_KEY = "authd.console.token";
  const API = "api/v1/"; // relative to /console, so the console also works under a path prefix
  const ACTIONS = [
    "app.create", "app.update", "app.delete", "app.link", "app.unlink",
    "account.create", "account.update", "account.delete",
    "identity.create", "identity.update", "identity.delete",
    "instance.enroll", "instance.revoke", "token.create", "token.revoke",
    "otp.generate", "otp.verify", "org.update",
  ];
  const RESOURCE_TYPES = ["app", "account", "identity", "instance", "service_token", "org"];
  const SCOPES = [
    "apps:read", "apps:write", "identities:read", "identities:write", "otp:generate", "otp:verify",
    "instances:read", "instances:write", "audit:read", "tokens:write", "admin",
  ];
  const LIVE_POLL_MS = 2000;

  /** The calling token's object (GET /api/v1/tokens/self), once signed in. */
  let me = null;
  /** Timers of the current view (countdowns, live audit), cleared when the view changes. */
  let timers = [];
  /** What to do when the view changes (e.g. forget a token shown once). */
  let onLeave = [];
  /** Increments at every render: a late answer for a view left meanwhile is dropped. */
  let generation = 0;

  // ------------------------------------------------------------------------------ DOM helpers

  /** An element; `attrs` are attributes (set as values, never parsed), `on*` are listeners;
   * children are nodes or text. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  /** A link inside the console (hash routes only). */
  function link(route, ...children) {
    return el("a", { href: "#/" + route }, ...children);
  }

  function time(ts) {
    return ts ? el("time", { datetime: ts }, ts) : "—";
  }

  function $(id) {
    return document.getElementById(id);
  }

  function announce(text) {
    const s = $("status");
    s.textContent = "";
    // A new text node each time, so that a repeated message is read again.
    window.setTimeout(() => { s.textContent = text; }, 30);
  }

  function alertError(text) {
    $("alert").textContent = text;
  }

  function clearAlert() {
    $("alert").textContent = "";
  }

  /** A labelled form field: [label, input]. */
  function field(id, label, input, hint) {
    input.id = id;
    const parts = [el("label", { for: id }, label), input];
    if (hint) {
      const hid = id + "-hint";
      input.setAttribute("aria-describedby", hid);
      parts.push(el("span", { class: "hint", id: hid }, hint));
    }
    return el("div", { class: "field" }, parts);
  }

  function table(caption, headers, rows) {
    return el("div", { class: "table-wrap" },
      el("table", {},
        el("caption", {}, caption),
        el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows)));
  }

  /** A cell with a label for narrow screens (the CSS shows it when the table is stacked). */
  function td(label, ...children) {
    return el("td", { "data-label": label }, ...children);
  }

  // ------------------------------------------------------------------------------ the API

  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      super(describe(status, body));
      this.status = status;
      this.body = body;
      this.retryAfter = retryAfter;
    }
  }

  function describe(status, body) {
    const detail = body && (typeof body.detail === "string" ? body.detail : body.error);
    const names = {
      400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 409: "Conflict",
      413: "Too large", 422: "Invalid input", 429: "Too many attempts", 500: "Server error",
      503: "Database unavailable",
    };
    let text = (names[status] || "Error") + " (" + status + ")";
    if (detail) text += ": " + detail;
    if (body && Array.isArray(body.detail)) {
      text += ": " + body.detail.map((d) => (d.loc || []).slice(1).join(".") + " " + d.msg).join("; ");
    }
    return text;
  }

  function token() {
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  /** One API call with the session's token; the parsed JSON body, or throws an ApiError. */
  async function api(method, path, body) {
    const t = token();
    if (!t) throw new ApiError(401, { detail: "Not signed in" }, null);
    const headers = { "X-Service-Token": t, Accept: "application/json" };
    const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(API + path, init);
    } catch (e) {
      throw new ApiError(0, { detail: "authd could not be reached" }, null);
    }
    const text = await r.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!r.ok) {
      const err = new ApiError(r.status, data, r.headers.get("Retry-After"));
      if (r.status === 401 && path !== "tokens/self") {
        signOut("The token is no longer valid (" + err.message + "). Sign in again.");
      }
      throw err;
    }
    return data;
  }

  function can(scope) {
    return !!me && (me.scopes.includes("admin") || me.scopes.includes(scope));
  }

  /** A view's error: a 403 is shown as such (the token lacks a scope, or the identity is paused). */
  function errorBox(e) {
    const box = el("p", { class: "error", role: "alert" });
    box.textContent = e instanceof ApiError ? e.message : "Unexpected error: " + e;
    if (e instanceof ApiError && e.status === 403) box.classList.add("forbidden");
    return box;
  }

  /** Runs an action from a button: disables it meanwhile, shows an error in `where`. */
  async function act(button, where, fn) {
    clearAlert();
    if (button) button.disabled = true;
    try {
      await fn();
    } catch (e) {
      if (where) {
        clear(where).append(errorBox(e));
      } else {
        alertError(e instanceof ApiError ? e.message : String(e));
      }
    } finally {
      if (button && button.isConnected) button.disabled = false;
    }
  }

  // ------------------------------------------------------------------------------ session

  function signInView(message) {
    const main = clear($("main"));
    const input = el("input", {
      type: "password", autocomplete: "off", spellcheck: "false", required: true,
      autocapitalize: "off",
    });
    const out = el("div", { class: "out" });
    const form = el("form", { class: "card", "aria-labelledby": "signin-title" },
      el("h1", { id: "signin-title", tabindex: "-1" }, "Sign in"),
      el("p", {}, "Paste a service token (", el("code", {}, "authd token create --org ORG"),
        "). It stays in this browser tab only, until you sign out or close the tab."),
      field("signin-token", "Service token", input),
      el("button", { type: "submit" }, "Sign in"),
      out);
    if (message) out.append(el("p", { class: "error", role: "alert" }, message));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = input.value.trim();
      input.value = "";
      if (!value) return;
      window.sessionStorage.setItem(TOKEN_KEY, value);
      act(form.querySelector("button"), out, async () => {
        try {
          await start();
        } catch (e) {
          window.sessionStorage.removeItem(TOKEN_KEY);
          throw e;
        }
      });
    });
    main.append(form);
    $("nav").hidden = true;
    $("who").hidden = true;
    input.focus();
  }

  async function start() {
    me = await api("GET", "tokens/self");
    const nav = $("nav");
    const needs = { identities: "identities:read", apps: "apps:read", tokens: "tokens:write", audit: "audit:read" };
    for (const a of nav.querySelectorAll("a[data-nav]")) {
      a.parentElement.hidden = !can(needs[a.dataset.nav]);
    }
    nav.hidden = false;
    const who = $("who-text");
    clear(who).append(
      "Token ", el("strong", {}, me.name === null ? me.id : me.name),
      " · ", me.scopes.join(", "),
      me.identities || me.apps ? " · restricted to " + restriction(me) : "",
      me.expires_at ? " · expires " + me.expires_at : "");
    $("who").hidden = false;
    if (!location.hash || location.hash === "#" || location.hash === "#/") {
      const first = Object.keys(needs).find((v) => can(needs[v]));
      location.hash = "#/" + (first || "identities");
    } else {
      route();
    }
  }

  function restriction(t) {
    const parts = [];
    if (t.identities && t.identities.length) parts.push("identities " + t.identities.join(", "));
    if (t.apps && t.apps.length) parts.push("apps " + t.apps.join(", "));
    return parts.join("; ") || "nothing";
  }

  function signOut(message) {
    window.sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    leave();
    clearAlert();
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    signInView(message);
    announce("Signed out");
  }

  // ------------------------------------------------------------------------------ routing

  function leave() {
    generation += 1;
    $("status").textContent = "";
    for (const t of timers) window.clearInterval(t);
    timers = [];
    for (const f of onLeave) f();
    onLeave = [];
  }

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, "");
    const [path, query] = raw.split("?");
    return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query || "") };
  }

  function route() {
    if (!me) return;
    leave();
    clearAlert();
    const { parts, query } = parseHash();
    for (const a of document.querySelectorAll("#nav a")) {
      if (a.dataset.nav === parts[0]) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const main = clear($("main"));
    const view = { identities: identitiesView, apps: parts[1] ? appView : appsView, tokens: tokensView, audit: auditView }[parts[0]];
    if (!view) {
      main.append(el("h1", { tabindex: "-1" }, "Not found"), el("p", {}, "No such page."));
    } else {
      view(main, parts, query, generation);
    }
    const h1 = main.querySelector("h1");
    if (h1) h1.focus();
  }

  /** Whether a view that started at `gen` is still the current one. */
  function current(gen) {
    return gen === generation;
  }

  // ------------------------------------------------------------------------------ identities

  function identitiesView(main, parts, query, gen) {
    main.append(el("h1", { tabindex: "-1" }, "Identities"));
    const out = el("div", { class: "out" });
    if (can("identities:write")) {
      const handle = el("input", { type: "text", autocomplete: "off", spellcheck: "false", required: true });
      const form = el("form", { class: "card inline", "aria-label": "Create an identity" },
        field("new-identity", "New identity handle", handle),
        el("button", { type: "submit" }, "Create identity"));
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        act(form.querySelector("button"), out, async () => {
          const created = await api("POST", "identities", { agent_handle: handle.value });
          handle.value = "";
          announce("Identity " + created.agent_handle + " created");
          await load();
        });
      });
      main.append(form);
    }
    const search = el("input", { type: "search", autocomplete: "off", spellcheck: "false" });
    search.value = query.get("q") || "";
    const status = el("select", {},
      el("option", { value: "" }, "Any status"), el("option", { value: "active" }, "active"),
      el("option", { value: "paused" }, "paused"));
    const filters = el("div", { class: "card inline", role: "search", "aria-label": "Filter identities" },
      field("identity-search", "Search by handle", search),
      field("identity-status", "Status", status));
    main.append(filters, out);
    const list = el("div", {});
    main.append(list);
    const onlyId = query.get("id");
    let identities = [];
    let appOf = new Map();

    function render() {
      const q = search.value.trim().toLowerCase();
      const shown = identities.filter((i) =>
        (!onlyId || i.id === onlyId) && (!q || i.agent_handle.toLowerCase().includes(q)) &&
        (!status.value || i.status === status.value));
      const rows = shown.map((i) => {
        const app = appOf.get(i.id);
        const actions = el("td", { "data-label": "Actions", class: "actions" });
        if (can("identities:write")) {
          const paused = i.status === "paused";
          const toggle = el("button", { type: "button", "aria-label": (paused ? "Resume " : "Pause ") + i.agent_handle },
            paused ? "Resume" : "Pause");
          toggle.addEventListener("click", () => act(toggle, out, async () => {
            await api("PATCH", "identities/" + encodeURIComponent(i.agent_handle), { status: paused ? "active" : "paused" });
            announce(i.agent_handle + (paused ? " resumed" : " paused"));
            await load();
          }));
          const del = el("button", { type: "button", class: "danger", "aria-label": "Delete " + i.agent_handle }, "Delete…");
          del.addEventListener("click", () => confirmDeleteIdentity(i, out));
          actions.append(toggle, " ", del);
        }
        return el("tr", { "data-id": i.id },
          td("Handle", i.agent_handle),
          td("Status", el("span", { class: "badge " + i.status }, i.status)),
          td("App", app ? link("apps/" + encodeURIComponent(app), app) : "none"),
          td("Created", time(i.created_at)),
          actions);
      });
      clear(list).append(shown.length
        ? table("Identities (" + shown.length + " of " + identities.length + ")",
          ["Handle", "Status", "App", "Created", can("identities:write") ? "Actions" : ""], rows)
        : el("p", {}, onlyId ? "This identity no longer exists (it may have been deleted)." : "No identity matches."));
    }

    async function load() {
      const got = await api("GET", "identities");
      const apps = can("apps:read") ? await api("GET", "authenticator/apps") : [];
      if (!current(gen)) return;
      identities = got;
      appOf = new Map(apps.filter((a) => a.identity_id).map((a) => [a.identity_id, a.id]));
      render();
    }

    async function confirmDeleteIdentity(i, where) {
      clear(where);
      const box = el("div", { class: "card confirm", role: "group", "aria-labelledby": "confirm-title" },
        el("h2", { id: "confirm-title", tabindex: "-1" }, "Delete identity " + i.agent_handle + "?"));
      where.append(box);
      const consequences = el("ul", {});
      box.append(el("p", {}, "Deleting it will:"), consequences);
      const item = (...t) => consequences.append(el("li", {}, ...t));
      try {
        const detail = await api("GET", "identities/" + encodeURIComponent(i.agent_handle));
        const app = detail.authenticator_app;
        item("delete the identity ", el("strong", {}, i.agent_handle), " (its handle becomes free for a new identity);");
        if (app) {
          let accounts = null;
          let instances = null;
          if (can("apps:read")) accounts = (await api("GET", "authenticator/apps/" + app.id + "/accounts")).length;
          if (can("instances:read")) instances = (await api("GET", "authenticator/apps/" + app.id + "/instances")).length;
          item("unlink its app ", link("apps/" + encodeURIComponent(app.id), app.id),
            accounts === null ? " (the app and its accounts are kept);" : " (the app and its " + accounts + " account(s) are kept);");
          item(instances === null
            ? "revoke every device instance of that app (their device tokens stop working at once)."
            : "revoke the app's " + instances + " device instance(s) (their device tokens stop working at once).");
        } else {
          item("nothing else: no app is linked to it.");
        }
      } catch (e) {
        box.append(errorBox(e));
      }
      if (!box.isConnected) return;
      box.append(el("p", {}, "This cannot be undone."));
      const yes = el("button", { type: "button", class: "danger" }, "Yes, delete " + i.agent_handle);
      const no = el("button", { type: "button" }, "Cancel");
      yes.addEventListener("click", () => act(yes, where, async () => {
        await api("DELETE", "identities/" + encodeURIComponent(i.agent_handle));
        clear(where);
        announce("Identity " + i.agent_handle + " deleted");
        await load();
      }));
      no.addEventListener("click", () => { clear(where); announce("Cancelled"); });
      box.addEventListener("keydown", (ev) => { if (ev.key === "Escape") no.click(); });
      box.append(el("div", { class: "buttons" }, yes, " ", no));
      box.querySelector("h2").focus();
    }

    search.addEventListener("input", render);
    status.addEventListener("change", render);
    load().catch((e) => { if (current(gen)) clear(list).append(errorBox(e)); });
  }

  // ------------------------------------------------------------------------------ apps

  function appsView(main, parts, query, gen) {
    main.append(el("h1", { tabindex: "-1" }, "Apps"));
    const out = el("div", { class: "out" });
    if (can("apps:write")) {
      const handle = el("input", { type: "text", autocomplete: "off", spellcheck: "false" });
      const form = el("form", { class: "card inline", "aria-label": "Create an app" },
        field("new-app-identity", "Link to identity (handle, optional)", handle),
        el("button", { type: "submit" }, "Create app"));
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        act(form.querySelector("button"), out, async () => {
          const body = handle.value ? { agent_handle: handle.value } : {};
          const app = await api("POST", "authenticator/apps", body);
          handle.value = "";
          announce("App created");
          location.hash = "#/apps/" + encodeURIComponent(app.id);
        });
      });
      main.append(form);
    }
    const list = el("div", {});
    main.append(out, list);
    (async () => {
      const apps = await api("GET", "authenticator/apps");
      const handles = await identityHandles();
      if (!current(gen)) return;
      const rows = apps.map((a) => el("tr", {},
        td("App", link("apps/" + encodeURIComponent(a.id), a.id)),
        td("Linked identity", a.identity_id ? handleLink(a.identity_id, handles) : "none"),
        td("Created", time(a.created_at))));
      clear(list).append(apps.length ? table("Apps (" + apps.length + ")", ["App", "Linked identity", "Created"], rows)
        : el("p", {}, "No app yet."));
    })().catch((e) => { if (current(gen)) clear(list).append(errorBox(e)); });
  }

  /** identity id → handle, when the token may list identities (else an empty map). */
  async function identityHandles() {
    if (!can("identities:read")) return new Map();
    const ids = await api("GET", "identities");
    return new Map(ids.map((i) => [i.id, i.agent_handle]));
  }

  function handleLink(id, handles) {
    const handle = handles.get(id);
    return link("identities?id=" + encodeURIComponent(id), handle === undefined ? id : handle);
  }

  function appView(main, parts, query, gen) {
    const appId = parts[1];
    const base = "authenticator/apps/" + encodeURIComponent(appId);
    main.append(el("h1", { tabindex: "-1" }, "App ", el("span", { class: "mono" }, appId)));
    const head = el("div", {});
    const accountsOut = el("div", { class: "out" });
    const accounts = el("section", { "aria-labelledby": "accounts-title" },
      el("h2", { id: "accounts-title" }, "Accounts"));
    const instances = el("section", { "aria-labelledby": "instances-title" },
      el("h2", { id: "instances-title" }, "Device instances"));
    main.append(head, accounts);
    if (can("instances:read")) main.append(instances);

    (async () => {
      const app = await api("GET", base);
      const handles = await identityHandles();
      if (!current(gen)) return;
      head.append(el("dl", { class: "facts" },
        el("dt", {}, "Linked identity"),
        el("dd", {}, app.identity_id ? handleLink(app.identity_id, handles) : "none"),
        el("dt", {}, "Created"), el("dd", {}, time(app.created_at)),
        el("dt", {}, "Metadata"),
        el("dd", {}, Object.keys(app.metadata).length
          ? el("ul", { class: "plain" }, Object.entries(app.metadata).map(([k, v]) => el("li", {}, k + ": " + v)))
          : "none"),
        can("audit:read") ? [el("dt", {}, "History"), el("dd", {}, link("audit?resource_id=" + encodeURIComponent(app.id), "Audit trail of this app"))] : null));
    })().catch((e) => { if (current(gen)) head.append(errorBox(e)); });

    const accountList = el("div", {});
    accounts.append(accountList, accountsOut);
    if (can("apps:write")) accounts.append(addAccountForm(base, accountsOut, () => loadAccounts()));

    async function loadAccounts() {
      const list = await api("GET", base + "/accounts");
      const lockouts = await Promise.all(list.map((a) => api("GET", base + "/accounts/" + a.id + "/lockout")));
      if (!current(gen)) return;
      const rows = list.map((a, n) => accountRow(a, lockouts[n], base, accountsOut, loadAccounts, query.get("account") === a.id));
      clear(accountList).append(list.length
        ? table("Accounts (" + list.length + ")", ["Issuer", "Label", "Type", "Algorithm", "Digits", "Period / counter",
          "Verify window", "Failed attempts", "Locked until", "Actions"], rows)
        : el("p", {}, "No account yet."));
    }
    loadAccounts().catch((e) => { if (current(gen)) clear(accountList).append(errorBox(e)); });

    if (can("instances:read")) {
      const instOut = el("div", { class: "out" });
      const instList = el("div", {});
      instances.append(instList, instOut);
      const loadInstances = async () => {
        const list = await api("GET", base + "/instances");
        if (!current(gen)) return;
        const rows = list.map((i) => {
          const actions = el("td", { "data-label": "Actions", class: "actions" });
          if (can("instances:write")) {
            const revoke = el("button", { type: "button", class: "danger", "aria-label": "Revoke device " + i.device_name }, "Revoke…");
            revoke.addEventListener("click", () => {
              clear(instOut);
              const yes = el("button", { type: "button", class: "danger" }, "Yes, revoke " + i.device_name);
              const no = el("button", { type: "button" }, "Cancel");
              const box = el("div", { class: "card confirm", role: "group", "aria-labelledby": "revoke-title" },
                el("h3", { id: "revoke-title", tabindex: "-1" }, "Revoke the device " + i.device_name + "?"),
                el("p", {}, "Its device token stops working at once; it can no longer list accounts or fetch codes. This cannot be undone."),
                el("div", { class: "buttons" }, yes, " ", no));
              yes.addEventListener("click", () => act(yes, instOut, async () => {
                await api("DELETE", base + "/instances/" + encodeURIComponent(i.id));
                clear(instOut);
                announce("Device " + i.device_name + " revoked");
                await loadInstances();
              }));
              no.addEventListener("click", () => { clear(instOut); announce("Cancelled"); });
              box.addEventListener("keydown", (ev) => { if (ev.key === "Escape") no.click(); });
              instOut.append(box);
              box.querySelector("h3").focus();
            });
            actions.append(revoke);
          }
          return el("tr", { "data-id": i.id },
            td("Name", i.device_name), td("Platform", i.platform), td("Enrolled at", time(i.created_at)),
            td("Last used", time(i.last_used_at)), actions);
        });
        clear(instList).append(list.length
          ? table("Device instances (" + list.length + ")", ["Name", "Platform", "Enrolled at", "Last used", "Actions"], rows)
          : el("p", {}, "No device instance."));
      };
      loadInstances().catch((e) => { if (current(gen)) clear(instList).append(errorBox(e)); });
    }
  }

  function accountRow(a, lockout, base, out, reload, highlight) {
    const path = base + "/accounts/" + encodeURIComponent(a.id);
    const label = (a.issuer ? a.issuer + ": " : "") + a.account_name;
    const actions = el("td", { "data-label": "Actions", class: "actions" });
    const result = el("div", { class: "result", "aria-live": "polite" });
    if (can("otp:generate")) {
      const gen = el("button", { type: "button", "aria-label": "Generate a code for " + label }, "Generate code");
      gen.addEventListener("click", () => act(gen, result, async () => {
        const otp = await api("POST", path + "/generate-otp");
        showCode(result, otp, a);
        await refreshLockout();
      }));
      actions.append(gen);
    }
    if (can("otp:verify")) {
      const code = el("input", { type: "text", inputmode: "numeric", autocomplete: "off", pattern: "[0-9]*", maxlength: "10", required: true, size: "8" });
      const fid = "verify-" + a.id;
      const form = el("form", { class: "verify", "aria-label": "Verify a code for " + label },
        el("label", { for: fid }, "Code to verify"), code,
        el("button", { type: "submit" }, "Verify"));
      code.id = fid;
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        act(form.querySelector("button"), result, async () => {
          const typed = code.value;
          code.value = "";
          try {
            const v = await api("POST", path + "/verify", { otp_code: typed });
            clear(result).append(v.valid
              ? el("p", { class: "ok" }, "Valid (matched offset " + v.matched_offset + ").")
              : el("p", { class: "refused" }, "Refused: " + v.reason + ". remaining_attempts: " + v.remaining_attempts + "."));
          } catch (e) {
            if (e instanceof ApiError && e.status === 429) {
              clear(result).append(el("p", { class: "refused" },
                "Locked: too many failed attempts. Retry-After: " + e.retryAfter + " s (retry_after_seconds: " +
                (e.body ? e.body.retry_after_seconds : "?") + ")."));
            } else {
              throw e;
            }
          }
          await refreshLockout();
        });
      });
      actions.append(form);
    }
    if (can("audit:read")) {
      actions.append(link("audit?resource_id=" + encodeURIComponent(a.id), "Code history"));
    }
    actions.append(result);
    const failed = td("Failed attempts");
    const locked = td("Locked until");
    const showLockout = (l) => {
      append(clear(failed), [String(l.failed_attempts)]);
      append(clear(locked), [l.locked_until ? [time(l.locked_until), " (" + l.retry_after_seconds + " s left)"] : "not locked"]);
    };
    showLockout(lockout);
    async function refreshLockout() {
      showLockout(await api("GET", path + "/lockout"));
    }
    return el("tr", { "data-id": a.id, class: highlight ? "highlight" : null },
      td("Issuer", a.issuer === null ? "—" : a.issuer),
      td("Label", a.account_name, a.display_name ? el("span", { class: "hint" }, " (" + a.display_name + ")") : null),
      td("Type", a.otp_type), td("Algorithm", a.algorithm), td("Digits", String(a.digits)),
      td("Period / counter", a.otp_type === "totp" ? a.period + " s" : "counter " + a.counter),
      td("Verify window", String(a.verify_window)),
      failed, locked, actions);
  }

  /** Shows a generated code with the countdown of its validity (TOTP). */
  function showCode(where, otp, account) {
    clear(where);
    const code = el("output", { class: "code" }, otp.otp_code);
    if (otp.valid_for_seconds === null) {
      where.append(el("p", {}, "Code ", code, " (HOTP: valid until used; the counter moved on)."));
      return;
    }
    const period = otp.period || account.period || 30;
    const ends = Date.now() + otp.valid_for_seconds * 1000;
    const bar = el("progress", { max: String(period), value: String(otp.valid_for_seconds), "aria-label": "Validity left" });
    const left = el("span", { class: "countdown" }, "valid for " + otp.valid_for_seconds + " s");
    where.append(el("p", {}, "Code ", code, " ", left), bar);
    const t = window.setInterval(() => {
      const s = Math.max(0, Math.ceil((ends - Date.now()) / 1000));
      bar.value = s;
      if (s > 0) {
        left.textContent = "valid for " + s + " s";
      } else {
        window.clearInterval(t);
        code.textContent = "expired";
        left.textContent = "";
      }
    }, 250);
    timers.push(t);
  }

  function addAccountForm(base, out, reload) {
    const uri = el("input", { type: "text", autocomplete: "off", spellcheck: "false", required: true, placeholder: "otpauth://totp/Issuer:label?secret=…" });
    const file = el("input", { type: "file", accept: "image/*" });
    const drop = el("div", { class: "drop", id: "qr-drop" },
      el("p", {}, "Or drop a QR code image here: it is decoded in this browser, nothing is uploaded but the URI."),
      field("qr-file", "QR code image", file));
    const qrOut = el("p", { class: "hint", "aria-live": "polite" });
    const form = el("form", { class: "card", "aria-labelledby": "add-account-title" },
      el("h3", { id: "add-account-title" }, "Add an account"),
      field("new-account-uri", "otpauth:// URI", uri, "The URI carries the secret: it is sent once, never shown again."),
      drop, qrOut,
      el("button", { type: "submit" }, "Add account"));

    async function decode(f) {
      if (!f) return;
      qrOut.textContent = "Reading the QR code…";
      try {
        const found = await decodeQr(f);
        if (!found) {
          qrOut.textContent = "No QR code found in that image.";
          return;
        }
        if (!/^otpauth:\/\//i.test(found)) {
          qrOut.textContent = "The QR code holds no otpauth:// URI.";
          return;
        }
        uri.value = found;
        qrOut.textContent = "QR code read: an otpauth:// URI is in the field. Press Add account.";
      } catch (e) {
        qrOut.textContent = "The image could not be read: " + e.message;
      }
    }
    file.addEventListener("change", () => { decode(file.files[0]); });
    drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (ev) => {
      ev.preventDefault();
      drop.classList.remove("over");
      decode(ev.dataTransfer.files[0]);
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act(form.querySelector("button[type=submit]"), out, async () => {
        const value = uri.value;
        uri.value = "";
        file.value = "";
        qrOut.textContent = "";
        clear(out);
        const a = await api("POST", base + "/accounts", { otpauth_uri: value });
        announce("Account " + (a.issuer ? a.issuer + ": " : "") + a.account_name + " added");
        await reload();
      });
    });
    return form;
  }

  /** The text of the QR code in an image file, decoded here (jsQR), or null. */
  async function decodeQr(f) {
    if (typeof window.jsQR !== "function") throw new Error("the QR decoder is not loaded");
    const url = URL.createObjectURL(f);
    try {
      const img = await new Promise((resolve, reject) => {
        const i = new Image();
        i.onload = () => resolve(i);
        i.onerror = () => reject(new Error("not an image"));
        i.src = url;
      });
      // Large photos are scaled down: jsQR needs a few pixels per module, not millions.
      const scale = Math.min(1, 1600 / Math.max(img.naturalWidth, img.naturalHeight));
      const w = Math.max(1, Math.round(img.naturalWidth * scale));
      const hgt = Math.max(1, Math.round(img.naturalHeight * scale));
      const canvas = document.createElement("canvas");
      canvas.width = w;
      canvas.height = hgt;
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, w, hgt);
      ctx.drawImage(img, 0, 0, w, hgt);
      const data = ctx.getImageData(0, 0, w, hgt);
      const found = window.jsQR(data.data, w, hgt, { inversionAttempts: "attemptBoth" });
      return found ? found.data : null;
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  // ------------------------------------------------------------------------------ tokens

  function tokensView(main, parts, query, gen) {
    main.append(el("h1", { tabindex: "-1" }, "Service tokens"));
    const out = el("div", { class: "out" });
    const shown = el("div", {});
    const list = el("div", {});
    main.append(shown);
    if (can("tokens:write")) main.append(mintForm(out, shown, () => load()));
    main.append(out, list);

    async function load() {
      const tokens = await api("GET", "tokens");
      if (!current(gen)) return;
      const rows = tokens.map((t) => {
        const actions = el("td", { "data-label": "Actions", class: "actions" });
        const name = t.name === null ? "(unnamed)" : t.name;
        if (!t.revoked_at) {
          const revoke = el("button", { type: "button", class: "danger", "aria-label": "Revoke token " + name }, "Revoke…");
          revoke.addEventListener("click", () => {
            clear(out);
            const yes = el("button", { type: "button", class: "danger" }, "Yes, revoke " + name);
            const no = el("button", { type: "button" }, "Cancel");
            const box = el("div", { class: "card confirm", role: "group", "aria-labelledby": "revoke-token-title" },
              el("h2", { id: "revoke-token-title", tabindex: "-1" }, "Revoke the token " + name + "?"),
              el("p", {}, "It stops working at once, and so does every token it minted, transitively." +
                (t.id === me.id ? " This is the token you are signed in with: you will be signed out." : "")),
              el("div", { class: "buttons" }, yes, " ", no));
            yes.addEventListener("click", () => act(yes, out, async () => {
              await api("DELETE", "tokens/" + encodeURIComponent(t.id));
              if (t.id === me.id) {
                signOut("You revoked the token you were signed in with.");
                return;
              }
              clear(out);
              announce("Token " + name + " revoked");
              await load();
            }));
            no.addEventListener("click", () => { clear(out); announce("Cancelled"); });
            box.addEventListener("keydown", (ev) => { if (ev.key === "Escape") no.click(); });
            out.append(box);
            box.querySelector("h2").focus();
          });
          actions.append(revoke);
        }
        return el("tr", { "data-id": t.id, class: t.revoked_at ? "revoked" : null },
          td("Name", name, t.id === me.id ? el("span", { class: "badge" }, " this token") : null),
          td("Scopes", t.scopes.join(" ")),
          td("Restriction", t.identities || t.apps ? restriction(t) : "none"),
          td("Created", time(t.created_at)), td("Expires", time(t.expires_at)),
          td("Last used", time(t.last_used_at)), td("Revoked", time(t.revoked_at)), actions);
      });
      clear(list).append(table("Tokens (" + tokens.length + ")",
        ["Name", "Scopes", "Restriction", "Created", "Expires", "Last used", "Revoked", "Actions"], rows));
    }
    load().catch((e) => { if (current(gen)) clear(list).append(errorBox(e)); });
  }

  function mintForm(out, shown, reload) {
    const name = el("input", { type: "text", autocomplete: "off", maxlength: "255" });
    const granted = me.scopes.includes("admin") ? SCOPES : SCOPES.filter((s) => me.scopes.includes(s));
    const boxes = granted.map((s) => {
      const id = "scope-" + s.replace(":", "-");
      return el("div", { class: "check" }, el("input", { type: "checkbox", id, value: s }), el("label", { for: id }, s));
    });
    const identities = el("input", { type: "text", autocomplete: "off", spellcheck: "false" });
    const apps = el("input", { type: "text", autocomplete: "off", spellcheck: "false" });
    const expiry = el("select", {},
      el("option", { value: "" }, "Never (or the tightest limit that applies)"),
      el("option", { value: "3600" }, "1 hour"), el("option", { value: "86400" }, "1 day"),
      el("option", { value: "604800" }, "7 days"), el("option", { value: "2592000" }, "30 days"),
      el("option", { value: "31536000" }, "1 year"));
    const form = el("form", { class: "card", "aria-labelledby": "mint-title" },
      el("h2", { id: "mint-title" }, "Mint a token"),
      el("p", { class: "hint" }, "A new token is never broader than this one: its scopes, identities, apps and lifetime must lie within yours."),
      field("mint-name", "Name", name),
      el("fieldset", {}, el("legend", {}, "Scopes"), boxes),
      field("mint-identities", "Identity patterns", identities, "Handles or prefixes with one *, separated by spaces or commas (e.g. sales-* bot). Empty: none."),
      field("mint-apps", "App ids", apps, "Separated by spaces or commas. Empty: none. With neither patterns nor apps the token sees the whole organization."),
      field("mint-expiry", "Expires in", expiry),
      el("button", { type: "submit" }, "Mint token"));
    const split = (s) => s.split(/[\s,]+/).filter(Boolean);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act(form.querySelector("button[type=submit]"), out, async () => {
        clear(out);
        const body = {
          scopes: boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
          name: name.value === "" ? null : name.value,
          identities: split(identities.value),
          apps: split(apps.value),
          expires_in_seconds: expiry.value === "" ? null : Number(expiry.value),
        };
        const t = await api("POST", "tokens", body);
        showOnce(shown, t);
        form.reset();
        await reload();
      });
    });
    return form;
  }

  /** The new token, shown once: removed from the page when dismissed or when the view changes. */
  function showOnce(where, t) {
    clear(where);
    const code = el("code", { id: "new-token", class: "secret" }, t.token);
    const copy = el("button", { type: "button" }, "Copy");
    const done = el("button", { type: "button" }, "Done: I have copied it");
    const note = el("span", { class: "hint", "aria-live": "polite" });
    const box = el("div", { class: "card once", role: "group", "aria-labelledby": "once-title" },
      el("h2", { id: "once-title", tabindex: "-1" }, "New token " + (t.name === null ? t.id : t.name)),
      el("p", {}, "Copy it now: it is shown this once and authd does not keep it."),
      el("p", {}, code), el("div", { class: "buttons" }, copy, " ", done, " ", note));
    const forget = () => {
      code.textContent = "";
      clear(where);
    };
    copy.addEventListener("click", () => {
      const text = code.textContent;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          () => { note.textContent = "Copied."; },
          () => { selectText(code); note.textContent = "The browser refused the clipboard: the token is selected, copy it with the keyboard."; });
      } else {
        selectText(code);
        note.textContent = "The token is selected: copy it with the keyboard (Ctrl+C or ⌘C).";
      }
    });
    done.addEventListener("click", () => { forget(); announce("The new token was removed from the page"); });
    onLeave.push(forget);
    where.append(box);
    box.querySelector("h2").focus();
  }

  function selectText(node) {
    const range = document.createRange();
    range.selectNodeContents(node);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  // ------------------------------------------------------------------------------ audit

  function auditView(main, parts, query, gen) {
    main.append(el("h1", { tabindex: "-1" }, "Audit trail"));
    const action = el("select", {}, el("option", { value: "" }, "Any action"), ACTIONS.map((a) => el("option", { value: a }, a)));
    const type = el("select", {}, el("option", { value: "" }, "Any resource type"), RESOURCE_TYPES.map((t) => el("option", { value: t }, t)));
    const resource = el("input", { type: "text", autocomplete: "off", spellcheck: "false", size: "38" });
    const follow = el("input", { type: "checkbox", id: "audit-follow", checked: true });
    action.value = query.get("action") || "";
    type.value = query.get("resource_type") || "";
    resource.value = query.get("resource_id") || "";
    const form = el("form", { class: "card inline", role: "search", "aria-label": "Filter the audit trail" },
      field("audit-action", "Action", action),
      field("audit-type", "Resource type", type),
      field("audit-resource", "Resource id", resource),
      el("button", { type: "submit" }, "Apply filters"),
      el("div", { class: "check" }, follow, el("label", { for: "audit-follow" }, "Follow new events live")));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      if (action.value) q.set("action", action.value);
      if (type.value) q.set("resource_type", type.value);
      if (resource.value.trim()) q.set("resource_id", resource.value.trim());
      const target = "#/audit" + (q.toString() ? "?" + q : "");
      if (location.hash === target) route();
      else location.hash = target;
    });
    const out = el("div", { class: "out" });
    const tbody = el("tbody", {});
    const more = el("button", { type: "button", hidden: true }, "Load older events");
    const live = el("p", { class: "hint", "aria-live": "polite" });
    main.append(form, out, live,
      el("div", { class: "table-wrap" },
        el("table", {}, el("caption", {}, "Events, newest first"),
          el("thead", {}, el("tr", {}, ["#", "Time", "Action", "Resource", "Actor", "Details"].map((h) => el("th", { scope: "col" }, h)))),
          tbody)),
      more);

    const filters = new URLSearchParams();
    for (const k of ["action", "resource_type", "resource_id"]) if (query.get(k)) filters.set(k, query.get(k));
    let newest = null;
    let older = null;
    let handles = new Map();
    let tokenNames = new Map();

    function row(e, fresh) {
      return el("tr", { "data-seq": String(e.seq), class: fresh ? "fresh" : null },
        td("#", String(e.seq)), td("Time", time(e.at)), td("Action", e.action),
        td("Resource", resourceLink(e, handles)),
        td("Actor", actorText(e.actor, tokenNames)),
        td("Details", el("code", { class: "details" }, JSON.stringify(e.details))));
    }

    async function page(before) {
      const q = new URLSearchParams(filters);
      q.set("order", "desc");
      q.set("limit", "50");
      if (before !== null) q.set("before", before);
      const p = await api("GET", "audit/events?" + q);
      if (!current(gen)) return;
      for (const e of p.events) tbody.append(row(e, false));
      if (p.events.length && newest === null) newest = p.events[0].seq;
      older = p.next;
      more.hidden = p.events.length < 50 || older === null;
      if (!tbody.firstChild) live.textContent = "No event matches.";
    }

    async function poll() {
      const q = new URLSearchParams(filters);
      q.set("limit", "100");
      if (newest !== null) q.set("after", String(newest));
      const p = await api("GET", "audit/events?" + q);
      if (!current(gen) || !p.events.length) return;
      for (const e of p.events) tbody.insertBefore(row(e, true), tbody.firstChild);
      newest = p.events[p.events.length - 1].seq;
      live.textContent = p.events.length + " new event(s).";
    }

    more.addEventListener("click", () => act(more, out, () => page(older)));
    (async () => {
      handles = await identityHandles().catch(() => new Map());
      if (can("tokens:write")) {
        const tokens = await api("GET", "tokens").catch(() => []);
        tokenNames = new Map(tokens.filter((t) => t.name !== null).map((t) => [t.id, t.name]));
      }
      await page(null);
      const t = window.setInterval(() => {
        if (!follow.checked) return;
        poll().catch((e) => { if (current(gen)) clear(out).append(errorBox(e)); });
      }, LIVE_POLL_MS);
      timers.push(t);
    })().catch((e) => { if (current(gen)) clear(out).append(errorBox(e)); });
  }

  /** Who acted: the kind and id, with the token's name when the console knows it. */
  function actorText(actor, tokenNames) {
    if (!actor.id) return actor.kind;
    let text = actor.kind + " " + actor.id;
    if (actor.kind === "service_token" && tokenNames.has(actor.id)) text += " (" + tokenNames.get(actor.id) + ")";
    if (actor.kind === "service_token" && me && actor.id === me.id) text += " (this token)";
    return text;
  }

  /** A link to the record an event is about (what the API lets the console open). */
  function resourceLink(e, handles) {
    const id = e.resource.id;
    const d = e.details || {};
    const label = e.resource.type + " " + id;
    switch (e.resource.type) {
      case "app":
        return link("apps/" + encodeURIComponent(id), label);
      case "account":
        return d.app_id ? link("apps/" + encodeURIComponent(d.app_id) + "?account=" + encodeURIComponent(id), label) : label;
      case "instance":
        return d.app_id ? link("apps/" + encodeURIComponent(d.app_id), label) : label;
      case "identity": {
        const handle = handles.get(id);
        return link("identities?id=" + encodeURIComponent(id), "identity " + (handle === undefined ? id : handle));
      }
      case "service_token":
        return link("tokens", label);
      default:
        return label;
    }
  }

  // ------------------------------------------------------------------------------ start

  window.addEventListener("hashchange", route);
  document.addEventListener("DOMContentLoaded", () => {
    $("sign-out").addEventListener("click", () => signOut(null));
    if (token()) {
      start().catch((e) => {
        window.sessionStorage.removeItem(TOKEN_KEY);
        signInView(e instanceof ApiError ? e.message : String(e));
      });
    } else {
      signInView(null);
    }
  });
})();
