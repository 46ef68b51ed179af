// The latentrec page: plain DOM and fetch, no build step. Every text that comes from the
// server (titles, ids, messages) goes in with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const page = {
  maxN: 10,                       // the server's cap on n, from /health
  ratingValues: [1, 2, 3, 4, 5],  // replaced from the model's rating range
  mine: new Map(),                // JSON of an item id -> {item, title, rating}
  users: [],                      // the most active users, for "Random user"
};

// -- talking to the API ----------------------------------------------------------------
async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(errorText(body, response.status));
  }
  return body;
}

function errorText(body, status) {
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join("; ");
  return `the server answered ${status}`;
}

// Ids go as they are, spaces included: a model's id may begin or end with a space, and a
// mistyped one gets a 404 that quotes it.
const idPath = (id) => encodeURIComponent(String(id));
const upTo = (n) => Math.min(n, page.maxN);

// -- drawing lists ---------------------------------------------------------------------
function label(entry) {
  return entry.title ?? `item ${entry.item}`;
}

function tag(text, className = "score") {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  return span;
}

// One item: its title is a button that shows similar items; `extras` go after it.
function itemRow(entry, ...extras) {
  const li = document.createElement("li");
  const link = document.createElement("button");
  link.type = "button";
  link.className = "item-link";
  link.textContent = label(entry);
  link.title = `item ${entry.item}: show similar items`;
  link.addEventListener("click", () => showSimilar(entry));
  li.append(link, ...extras);
  return li;
}

function fill(list, entries, extras = () => []) {
  list.replaceChildren(...entries.map((e) => itemRow(e, ...extras(e))));
}

function status(id, text, isError = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", isError);
}

const score = (e) => [tag(e.score.toFixed(2))];
const count = (e) => [tag(`${e.n_ratings} ratings`, "count")];

// -- a user in the model ---------------------------------------------------------------
async function showUser(id) {
  if (!id.trim()) return;
  status("user-status", "Loading…");
  try {
    const [recs, rated] = await Promise.all([
      api(`/users/${idPath(id)}/recommendations?n=${upTo(10)}`),
      api(`/users/${idPath(id)}/items?n=${upTo(200)}`),
    ]);
    fill($("user-recs"), recs.items, score);
    fill($("rated-list"), rated.items, count);
    $("rated-count").textContent = `(${rated.total})`;
    status("user-status", rated.total > rated.items.length
      ? `User ${recs.user}: the ${rated.items.length} most-rated of ${rated.total} rated items below.`
      : `User ${recs.user}.`);
  } catch (err) {
    $("user-recs").replaceChildren();
    $("rated-list").replaceChildren();
    $("rated-count").textContent = "";
    status("user-status", err.message, true);
  }
}

async function suggestUsers(text) {
  const found = await api(`/users?q=${encodeURIComponent(text)}&n=${upTo(20)}`).catch(() => null);
  if (!found) return;
  $("user-options").replaceChildren(...found.users.map((u) => {
    const option = document.createElement("option");
    option.value = String(u.user);
    option.label = `${u.n_ratings} ratings`;
    return option;
  }));
}

// -- a new visitor ---------------------------------------------------------------------
async function searchItems(text) {
  try {
    const found = await api(`/items?q=${encodeURIComponent(text)}&n=${upTo(20)}`);
    fill($("search-results"), found.items, (e) => [...count(e), ratingButtons(e)]);
    if (!found.items.length) status("visitor-status", `Nothing matches “${text}”.`);
    else status("visitor-status", "");
  } catch (err) {
    status("visitor-status", err.message, true);
  }
}

function ratingButtons(entry) {
  const group = tag("", "stars");
  for (const value of page.ratingValues) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = String(value);
    b.setAttribute("aria-label", `Rate ${value}`);
    b.addEventListener("click", () => rate(entry, value));
    group.append(b);
  }
  return group;
}

function rate(entry, value) {
  page.mine.set(JSON.stringify(entry.item), { item: entry.item, title: entry.title, rating: value });
  drawMine();
}

function drawMine() {
  const entries = [...page.mine.values()];
  fill($("my-ratings"), entries, (e) => {
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove ${label(e)}`);
    remove.addEventListener("click", () => { page.mine.delete(JSON.stringify(e.item)); drawMine(); });
    return [tag(`rated ${e.rating}`, "count"), remove];
  });
  $("visitor-recommend").disabled = entries.length === 0;
}

async function recommendForVisitor() {
  status("visitor-status", "Folding you in…");
  const ratings = [...page.mine.values()].map((r) => ({ item: r.item, rating: r.rating }));
  try {
    const recs = await api("/recommendations", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ratings, n: upTo(10) }),
    });
    fill($("visitor-recs"), recs.items, score);
    status("visitor-status", `From your ${ratings.length} rating(s):`);
  } catch (err) {
    status("visitor-status", err.message, true);
  }
}

// -- similar items ---------------------------------------------------------------------
async function showSimilar(entry) {
  $("similar-heading").textContent = `Items like ${label(entry)}`;
  $("similar-hint").hidden = true;
  try {
    const similar = await api(`/items/${idPath(entry.item)}/similar?n=${upTo(10)}`);
    fill($("similar-list"), similar.items, score);
    status("similar-status", "");
  } catch (err) {
    $("similar-list").replaceChildren();
    status("similar-status", err.message, true);
  }
}

// -- start -----------------------------------------------------------------------------
function ratingValues([low, high]) {
  const steps = [];
  for (let v = Math.ceil(low); v <= Math.floor(high); v += 1) steps.push(v);
  return steps.length >= 1 && steps.length <= 10 ? steps : [low, (low + high) / 2, high];
}

async function start() {
  $("user-form").addEventListener("submit", (ev) => { ev.preventDefault(); showUser($("user-input").value); });
  $("user-input").addEventListener("input", (ev) => suggestUsers(ev.target.value));
  $("user-random").addEventListener("click", () => {
    if (!page.users.length) return;
    const pick = page.users[Math.floor(Math.random() * page.users.length)];
    $("user-input").value = String(pick.user);
    showUser(String(pick.user));
  });
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); searchItems($("search-input").value.trim()); });
  $("visitor-recommend").addEventListener("click", recommendForVisitor);
  try {
    page.maxN = (await api("/health")).max_n;
    const model = await api("/model");
    page.ratingValues = ratingValues(model.rating_range);
    $("model-summary").textContent = `${model.algorithm} · ${model.n_users.toLocaleString()} users · `
      + `${model.n_items.toLocaleString()} items · ${model.n_factors} factors`
      + (model.titles ? "" : " · no item titles (start the server with --items)");
    page.users = (await api(`/users?n=${upTo(50)}`)).users;
    await Promise.all([suggestUsers(""), searchItems("")]);
    document.body.dataset.ready = "true";
  } catch (err) {
    $("model-summary").textContent = `Cannot reach the model: ${err.message}`;
  }
}

start();
