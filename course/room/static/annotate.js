/* The annotation layer on the readings: the course room adds this script to the book pages it
 * serves (course/room/book.py), after @recogito/text-annotator (the global RecogitoJS).
 *
 * Select a passage of the reading to comment on it for your study group or the whole cohort;
 * click a highlight (or use the list of comments beside the page) to read it, reply or flag it.
 * Everything a person wrote is put in the page with textContent, never as HTML.
 *
 * The library anchors annotations by character offsets, which shift when the book is rebuilt;
 * before handing the stored annotations to it, this script finds each passage again by its
 * quote (with the prefix and suffix the library recorded), the same rule the room applies on
 * the server (course/cohort/annotations.py), and gives the library fresh offsets. Comments
 * whose passage is gone are listed apart, under "Comments on passages that changed".
 */
(function () {
  "use strict";

  var dataElement = document.getElementById("igcb-annotate");
  if (!dataElement) return;
  // The library's bundle reads process.env.NODE_ENV (a Node.js global) when it makes its stores.
  window.process = window.process || {env: {NODE_ENV: "production"}};
  var cfg = JSON.parse(dataElement.textContent);
  var root = document.documentElement;
  var container = document.querySelector("article.bd-article") || document.querySelector("main") ||
    document.body;
  var state = {roots: new Map(), replyOf: new Map(), anchored: [], orphaned: [], draft: null,
               shown: null, anno: null};

  // --- building the page's parts (text only, never markup) ---------------------------------

  function el(tag, props) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key === "on") Object.keys(value).forEach(function (e) { node.addEventListener(e, value[e]); });
      else if (key === "hidden") node.hidden = true;
      else node.setAttribute(key, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clip(text, length) {
    text = (text || "").replace(/\s+/g, " ").trim();
    return text.length > length ? text.slice(0, length - 1) + "…" : text;
  }

  function audienceText(item) {
    return item.audience === "cohort" ? "the whole cohort" : "study group " + (item.group || "");
  }

  // --- the server ------------------------------------------------------------------------

  function api(method, path, body) {
    var options = {method: method, credentials: "same-origin",
                   headers: {"X-XSRFToken": cfg.xsrf, "Accept": "application/json"}};
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return answer(fetch(cfg.api + path, options));
  }

  function answer(request) {
    return request.then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.error || response.statusText || "the room did not answer");
          error.status = response.status;
          error.fields = data.fields || {};
          throw error;
        }
        return data;
      });
    });
  }

  function problem(error) {
    var fields = error.fields || {};
    var parts = Object.keys(fields).map(function (k) { return k + ": " + fields[k]; });
    if (error.status === 404) return "That comment is not there any more.";
    if (error.status === 403) return "The room did not accept this (are you still logged in? reload the page).";
    return parts.length ? parts.join("; ") : error.message;
  }

  // --- finding passages again (the server's rule, course/cohort/annotations.py) -------------

  function isSpace(code) {
    return code === 32 || (code >= 9 && code <= 13) || code === 160 || code === 0x1680 ||
      (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 ||
      code === 0x202f || code === 0x205f || code === 0x3000 || code === 0x85;
  }

  function normalize(text) {
    var out = "", space = false;
    for (var i = 0; i < text.length; i++) {
      if (isSpace(text.charCodeAt(i))) { if (!space) out += " "; space = true; }
      else { out += text[i]; space = false; }
    }
    return out;
  }

  // The text the library counts offsets in: the container's text nodes, minus .not-annotatable;
  // with each node's first offset, to make DOM ranges from offsets.
  function pageIndex() {
    var walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT, {
      acceptNode: function (node) {
        return node.parentElement && node.parentElement.closest(".not-annotatable")
          ? NodeFilter.FILTER_SKIP : NodeFilter.FILTER_ACCEPT;
      }});
    var parts = [], nodes = [], starts = [], length = 0, node;
    while ((node = walker.nextNode())) {
      nodes.push(node);
      starts.push(length);
      parts.push(node.textContent);
      length += node.textContent.length;
    }
    var raw = parts.join(""), text = [], map = [], space = false;
    for (var i = 0; i < raw.length; i++) {
      if (isSpace(raw.charCodeAt(i))) {
        if (!space) { text.push(" "); map.push(i); }
        space = true;
      } else { text.push(raw[i]); map.push(i); space = false; }
    }
    return {text: text.join(""), map: map, nodes: nodes, starts: starts};
  }

  // The text node holding raw offset `at` (for an end offset, the node it ends in).
  function nodeAt(index, at, isEnd) {
    var low = 0, high = index.starts.length - 1;
    while (low < high) {
      var mid = (low + high + 1) >> 1;
      if (index.starts[mid] < at || (!isEnd && index.starts[mid] === at)) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  function rangeOf(index, start, end) {
    var first = nodeAt(index, start, false), last = nodeAt(index, end, true);
    var range = document.createRange();
    range.setStart(index.nodes[first], start - index.starts[first]);
    range.setEnd(index.nodes[last], end - index.starts[last]);
    return range;
  }

  function findQuote(text, exact, prefix, suffix) {
    exact = normalize(exact || "").trim();
    prefix = normalize(prefix || "").trim();
    suffix = normalize(suffix || "").trim();
    if (!exact) return -1;
    var first = text.indexOf(exact), at = first, count = 0;
    while (at !== -1) {
      var before = at > 0 && text[at - 1] === " " ? at - 1 : at;
      var after = at + exact.length;
      if (text[after] === " ") after += 1;
      if (before >= prefix.length && text.substring(before - prefix.length, before) === prefix &&
          text.startsWith(suffix, after)) return at;
      count += 1;
      at = text.indexOf(exact, at + 1);
    }
    return count === 1 ? first : -1;
  }

  // The stored annotation as the library keeps it, anchored in today's page (offsets and DOM
  // ranges, so the library need not walk the page once per annotation), or null when a
  // passage is gone.
  function reanchored(item, index) {
    var selectors = [];
    for (var k = 0; k < (item.target || []).length; k++) {
      var quote = item.target[k];  // {exact, prefix, suffix}
      var exact = normalize(quote.exact).trim();
      var at = findQuote(index.text, quote.exact, quote.prefix, quote.suffix);
      if (at < 0) return null;
      var start = index.map[at], end = index.map[at + exact.length - 1] + 1;
      selectors.push({quote: quote.exact, start: start, end: end, range: rangeOf(index, start, end)});
    }
    if (!selectors.length) return null;
    return {id: item.id, bodies: [], target: {annotation: item.id, selector: selectors}};
  }

  // --- the panel -------------------------------------------------------------------------

  var status = el("p", {className: "igcb-status", role: "status", "aria-live": "polite"});
  var list = el("ol", {className: "igcb-list", id: "igcb-list"});
  var count = el("span", {text: "0"});
  var orphanList = el("ol", {className: "igcb-list"});
  var orphanCount = el("span", {text: "0"});
  var orphans = el("section", {className: "igcb-orphans", hidden: true, "aria-labelledby": "igcb-orphans-title"},
    el("h3", {id: "igcb-orphans-title"}, "Comments on passages that changed (", orphanCount, ")"),
    el("p", {className: "igcb-help", text: "The reading was rebuilt and these passages are no longer in it; the comments are kept here."}),
    orphanList);
  var composer = el("section", {className: "igcb-composer", hidden: true, "aria-labelledby": "igcb-composer-title"});
  var detail = el("section", {className: "igcb-detail", hidden: true, "aria-labelledby": "igcb-detail-title"});
  var toggle = el("button", {type: "button", className: "igcb-toggle", "aria-expanded": "true",
                             "aria-controls": "igcb-body", text: "Hide"});
  var body = el("div", {id: "igcb-body"},
    status,
    el("p", {className: "igcb-help", text: "Select a passage of the reading to comment on it: " +
      "with the mouse, or from the keyboard with caret browsing (F7) and Shift with the arrow keys."}),
    composer, detail,
    el("section", {"aria-labelledby": "igcb-list-title"},
      el("h3", {id: "igcb-list-title"}, "On this page (", count, ")"), list),
    orphans);
  var panel = el("aside", {id: "igcb-notes", className: "igcb-notes not-annotatable",
                           "aria-labelledby": "igcb-notes-title"},
    el("div", {className: "igcb-head"}, el("h2", {id: "igcb-notes-title", text: "Comments"}), toggle),
    body);
  toggle.addEventListener("click", function () {
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Hide" : "Show";
    body.hidden = !open;
    panel.classList.toggle("igcb-closed", !open);
  });
  document.body.appendChild(panel);
  document.body.insertBefore(el("a", {className: "igcb-skip not-annotatable", href: "#igcb-notes",
                                      text: "Skip to the comments on this page"}), document.body.firstChild);

  function say(message) { status.textContent = message; }

  function audienceFields(prefix) {
    var groups = cfg.groups || [];
    var fieldset = el("fieldset", {className: "igcb-audience"}, el("legend", {text: "Who can read it"}));
    var mine = cfg.me.role === "participant";
    var groupLabel = mine ? "My study group" + (cfg.own_group ? " (" + cfg.own_group + ")" : "")
                          : "A study group";
    var groupRadio = el("input", {type: "radio", name: prefix + "-audience", value: "group",
                                  id: prefix + "-group", checked: groups.length > 0,
                                  disabled: groups.length === 0});
    var cohortRadio = el("input", {type: "radio", name: prefix + "-audience", value: "cohort",
                                   id: prefix + "-cohort", checked: groups.length === 0});
    fieldset.appendChild(el("label", {"for": prefix + "-group"}, groupRadio, groupLabel +
      (groups.length ? ", its tutor and the coordinator" : " (you are not in one yet)")));
    var select = null;
    if (!mine && groups.length) {
      select = el("select", {id: prefix + "-which", "aria-label": "Which study group"});
      groups.forEach(function (g) { select.appendChild(el("option", {value: g, text: g})); });
      fieldset.appendChild(el("label", {"for": prefix + "-which", className: "igcb-which",
                                        text: "Study group"}));
      fieldset.appendChild(select);
    }
    fieldset.appendChild(el("label", {"for": prefix + "-cohort"}, cohortRadio, "The whole cohort"));
    return {node: fieldset, value: function () {
      return {audience: cohortRadio.checked ? "cohort" : "group",
              group: cohortRadio.checked ? null : (select ? select.value : cfg.own_group)};
    }};
  }

  // --- a new comment ------------------------------------------------------------------------

  function currentDraft() {
    return state.draft && state.anno ? state.anno.getAnnotationById(state.draft.id) || state.draft : state.draft;
  }

  function quoteOf(annotation) {
    return (annotation.target || []).map(function (t) {
      var q = (t.selector || []).filter(function (s) { return s.type === "TextQuoteSelector"; })[0];
      return q ? q.exact : "";
    }).join(" … ");
  }

  function openComposer(annotation) {
    if (state.draft && state.draft.id !== annotation.id) state.anno.removeAnnotation(state.draft.id);
    var kept = composer.querySelector("textarea");
    var previous = kept ? kept.value : "";
    state.draft = annotation;
    detail.hidden = true;
    composer.textContent = "";
    var error = el("p", {className: "igcb-error", role: "alert"});
    var text = el("textarea", {id: "igcb-new", rows: "4", maxlength: "5000"});
    text.value = previous;
    var audience = audienceFields("igcb-new");
    var save = el("button", {type: "submit", text: "Save comment"});
    var cancel = el("button", {type: "button", text: "Cancel"});
    var form = el("form", {className: "igcb-form"},
      el("label", {"for": "igcb-new", text: "Your comment"}), text, audience.node, error, save, cancel);
    composer.appendChild(el("h3", {id: "igcb-composer-title", text: "New comment"}));
    composer.appendChild(el("blockquote", {className: "igcb-quote", text: clip(quoteOf(annotation), 400)}));
    composer.appendChild(form);
    composer.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var draft = currentDraft();
      var choice = audience.value();
      save.disabled = true;
      api("POST", "", {id: draft.id, page: cfg.page, target: draft.target, body: text.value,
                       audience: choice.audience, group: choice.group})
        .then(function (saved) {
          state.draft = null;
          composer.hidden = true;
          composer.textContent = "";
          state.roots.set(saved.id, saved);
          (saved.orphaned ? state.orphaned : state.anchored).push(saved);
          renderLists();
          restyle();
          show(saved.id, true);
          say("Your comment is saved.");
        })
        .catch(function (e) { error.textContent = problem(e); save.disabled = false; });
    });
    cancel.addEventListener("click", closeComposer);
    text.focus();
  }

  function closeComposer() {
    if (state.draft) state.anno.removeAnnotation(state.draft.id);
    state.draft = null;
    composer.hidden = true;
    composer.textContent = "";
  }

  // --- one comment, its replies, and what one can do with them --------------------------------

  function meta(item) {
    var parts = [item.author, item.created];
    if (item.quote !== undefined) parts.push("for " + audienceText(item));  // a comment, not a reply
    if (item.edited) parts.push("edited");
    return el("p", {className: "igcb-meta", text: parts.filter(Boolean).join(" · ")});
  }

  function itemBody(item) {
    var nodes = [];
    if (item.hidden) {
      nodes.push(el("p", {className: "igcb-hidden-note", text: "Hidden by a moderator" +
        (item.hidden_reason ? ": " + item.hidden_reason : "") +
        (item.mine ? " (only you and the moderators see it)" : "")}));
    }
    nodes.push(item.deleted
      ? el("p", {className: "igcb-deleted", text: "(deleted by its author)"})
      : el("p", {className: "igcb-text", text: item.body}));
    return nodes;
  }

  function actions(item, rootId) {
    var box = el("div", {className: "igcb-actions"});
    var area = el("div");
    if (item.mine && !item.deleted) {
      if (!item.hidden) {
        box.appendChild(el("button", {type: "button", text: "Edit", on: {click: function () {
          area.textContent = "";
          var id = "igcb-edit-" + item.id;
          var text = el("textarea", {id: id, rows: "4", maxlength: "5000"});
          text.value = item.body;
          var error = el("p", {className: "igcb-error", role: "alert"});
          var form = el("form", {className: "igcb-form"}, el("label", {"for": id, text: "Edit your text"}),
            text, error, el("button", {type: "submit", text: "Save"}),
            el("button", {type: "button", text: "Cancel", on: {click: function () { area.textContent = ""; }}}));
          form.addEventListener("submit", function (event) {
            event.preventDefault();
            api("PATCH", "/" + item.id, {body: text.value}).then(function (saved) {
              Object.assign(item, saved);
              renderLists();
              show(rootId, true);
              say("Saved.");
            }).catch(function (e) { error.textContent = problem(e); });
          });
          area.appendChild(form);
          text.focus();
        }}}));
      }
      var remove = el("button", {type: "button", text: "Delete"});
      remove.addEventListener("click", function () {
        if (remove.dataset.sure !== "yes") {
          remove.dataset.sure = "yes";
          remove.textContent = "Really delete?";
          return;
        }
        api("DELETE", "/" + item.id).then(function (result) { deleted(item, rootId, result); })
          .catch(function (e) { say(problem(e)); });
      });
      box.appendChild(remove);
    }
    if (!item.mine && !item.deleted) {
      box.appendChild(el("button", {type: "button", text: "Flag", on: {click: function () {
        area.textContent = "";
        var id = "igcb-flag-" + item.id;
        var reason = el("textarea", {id: id, rows: "2", maxlength: "2000"});
        var error = el("p", {className: "igcb-error", role: "alert"});
        var form = el("form", {className: "igcb-form"},
          el("label", {"for": id, text: "Why should a tutor look at this?"}), reason, error,
          el("button", {type: "submit", text: "Send the flag"}),
          el("button", {type: "button", text: "Cancel", on: {click: function () { area.textContent = ""; }}}));
        form.addEventListener("submit", function (event) {
          event.preventDefault();
          api("POST", "/" + item.id + "/flag", {reason: reason.value}).then(function () {
            area.textContent = "";
            area.appendChild(el("p", {className: "igcb-done", text: "Flagged: a tutor will look at it."}));
          }).catch(function (e) { error.textContent = problem(e); });
        });
        area.appendChild(form);
        reason.focus();
      }}}));
    }
    if (item.can_moderate && cfg.moderation) {
      box.appendChild(el("a", {href: cfg.moderation, text: "Moderation"}));
    }
    return [box, area];
  }

  function deleted(item, rootId, result) {
    var rootItem = state.roots.get(rootId);
    if (item.id === rootId) {
      if (result.kept) { item.deleted = true; item.body = ""; }
      else { forget(rootId); say("Your comment is deleted."); return; }
    } else {
      rootItem.replies = rootItem.replies.filter(function (r) { return r.id !== item.id; });
      if (rootItem.deleted && rootItem.replies.length === 0) { forget(rootId); say("Deleted."); return; }
    }
    renderLists();
    show(rootId, true);
    say("Deleted.");
  }

  function forget(rootId) {
    state.roots.delete(rootId);
    state.anchored = state.anchored.filter(function (r) { return r.id !== rootId; });
    state.orphaned = state.orphaned.filter(function (r) { return r.id !== rootId; });
    if (state.anno) state.anno.removeAnnotation(rootId);
    detail.hidden = true;
    state.shown = null;
    renderLists();
  }

  function show(rootId, focus) {
    var item = state.roots.get(rootId);
    if (!item) return;
    state.shown = rootId;
    detail.textContent = "";
    var heading = el("h3", {id: "igcb-detail-title", tabindex: "-1", text: "Comment"});
    detail.appendChild(heading);
    detail.appendChild(el("blockquote", {className: "igcb-quote", text: clip(item.quote, 400)}));
    if (item.orphaned || item.unanchored) {
      detail.appendChild(el("p", {className: "igcb-help",
        text: "The passage this comment was on is no longer in the reading."}));
    }
    detail.appendChild(meta(item));
    itemBody(item).forEach(function (n) { detail.appendChild(n); });
    actions(item, rootId).forEach(function (n) { detail.appendChild(n); });
    var replies = el("ol", {className: "igcb-replies"});
    item.replies.forEach(function (r) {
      var li = el("li", {className: "igcb-reply"}, meta(r));
      itemBody(r).forEach(function (n) { li.appendChild(n); });
      actions(r, rootId).forEach(function (n) { li.appendChild(n); });
      replies.appendChild(li);
    });
    detail.appendChild(el("h4", {text: "Replies (" + item.replies.length + ")"}));
    detail.appendChild(replies);
    if (!item.deleted && !item.hidden) {
      var id = "igcb-reply-" + item.id;
      var text = el("textarea", {id: id, rows: "3", maxlength: "5000"});
      var error = el("p", {className: "igcb-error", role: "alert"});
      var form = el("form", {className: "igcb-form"}, el("label", {"for": id, text: "Your reply"}), text,
        error, el("button", {type: "submit", text: "Reply"}));
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        api("POST", "/" + item.id + "/replies", {body: text.value}).then(function (saved) {
          item.replies.push(saved);
          renderLists();
          show(rootId, false);
          say("Your reply is saved.");
          var again = document.getElementById(id);
          if (again) again.focus();
        }).catch(function (e) { error.textContent = problem(e); });
      });
      detail.appendChild(form);
    }
    detail.appendChild(el("button", {type: "button", text: "Close", on: {click: function () {
      detail.hidden = true;
      state.shown = null;
      if (state.anno) state.anno.setSelected();
    }}}));
    detail.hidden = false;
    composer.hidden = true;
    if (focus) heading.focus();
  }

  // --- the lists -------------------------------------------------------------------------

  function entry(item) {
    var replies = item.replies.length;
    var label = "“" + clip(item.quote, 60) + "” — " + item.author + ": " +
      (item.deleted ? "(deleted)" : clip(item.body, 90)) +
      (replies ? " · " + replies + (replies === 1 ? " reply" : " replies") : "") +
      (item.audience === "cohort" ? " · cohort" : "");
    return el("li", {}, el("button", {type: "button", className: "igcb-item", "data-id": item.id,
      text: label, on: {click: function () { pick(item.id); }}}));
  }

  function renderLists() {
    var fragment = document.createDocumentFragment();
    state.anchored.forEach(function (item) { fragment.appendChild(entry(item)); });
    list.textContent = "";
    list.appendChild(fragment);
    count.textContent = String(state.anchored.length);
    fragment = document.createDocumentFragment();
    state.orphaned.forEach(function (item) { fragment.appendChild(entry(item)); });
    orphanList.textContent = "";
    orphanList.appendChild(fragment);
    orphanCount.textContent = String(state.orphaned.length);
    orphans.hidden = state.orphaned.length === 0;
  }

  function pick(id) {
    var item = state.roots.get(id);
    if (state.anno && item && !item.orphaned && !item.unanchored) {
      state.anno.setSelected(id);
      try { state.anno.scrollIntoView(id); } catch (e) { /* not drawn yet */ }
    }
    show(id, true);
  }

  function restyle() {
    if (!state.anno) return;
    state.anno.setStyle(function (annotation, st) {
      var item = state.roots.get(annotation.id);
      var on = st && (st.selected || st.hovered);
      if (!item) return {fill: "#2e7d32", fillOpacity: 0.35};  // a comment being written
      if (item.hidden || item.deleted) return {fill: "#8a8a8a", fillOpacity: on ? 0.4 : 0.2};
      if (item.audience === "cohort") return {fill: "#1f6fd1", fillOpacity: on ? 0.4 : 0.2};
      return {fill: "#f2b705", fillOpacity: on ? 0.55 : 0.3};
    });
  }

  // Is a passage of these annotations in the window (so the library has highlights to draw)?
  function inView(annotations) {
    var height = window.innerHeight;
    return annotations.some(function (a) {
      return a.target.selector.some(function (s) {
        var box = s.range.getBoundingClientRect();
        return box.width > 0 && box.bottom > 0 && box.top < height;
      });
    });
  }

  // --- start -----------------------------------------------------------------------------

  function start() {
    if (typeof window.RecogitoJS === "undefined") {
      say("Comments cannot be shown: the annotation library is not installed on this server " +
          "(run scripts/setup-venv.sh).");
      root.dataset.igcbAnnotations = "unavailable";
      return;
    }
    var R = window.RecogitoJS;
    var anno = R.createTextAnnotator(container, {
      adapter: R.W3CTextFormat(location.href.split("#")[0], container),
      renderer: "SPANS",
      user: {id: cfg.me.id, name: cfg.me.name}
    });
    state.anno = anno;
    restyle();
    anno.on("createAnnotation", function (annotation) {
      if (!state.roots.has(annotation.id)) openComposer(annotation);
    });
    anno.on("selectionChanged", function (selected) {
      if (!selected || selected.length !== 1) return;
      var id = selected[0].id;
      if (state.roots.has(id) && state.shown !== id) show(id, false);
    });
    say("Loading the comments…");
    // annotate-start.js asked for them while the page loaded (or ask now if it has not run)
    var listing = window.igcbAnnotations ? answer(window.igcbAnnotations)
                                         : api("GET", "?page=" + encodeURIComponent(cfg.page));
    window.igcbAnnotations = listing;  // a late annotate-start.js asks nothing more
    listing.then(function (data) {
      root.dataset.igcbLoadedMs = String(Math.round(performance.now()));
      var index = pageIndex();
      var forLibrary = [];
      data.annotations.forEach(function (item) {
        state.roots.set(item.id, item);
        var anchored = reanchored(item, index);
        if (anchored) { forLibrary.push(anchored); state.anchored.push(item); }
        else { item.unanchored = true; state.orphaned.push(item); }
      });
      data.orphaned.forEach(function (item) { state.roots.set(item.id, item); state.orphaned.push(item); });
      var drawn = false;
      anno.renderer.on("onRedraw", function () {
        if (drawn) return;
        var ids = new Set(Array.from(container.querySelectorAll(".r6o-annotation"))
          .map(function (s) { return s.dataset.annotation; }));
        if (ids.size === 0 && inView(forLibrary)) return;  // a redraw from before: wait for ours
        drawn = true;
        root.dataset.igcbHighlights = String(ids.size);
        root.dataset.igcbReadyMs = String(Math.round(performance.now()));  // for bench/annotations.py
        root.dataset.igcbAnnotations = "ready";
      });
      anno.state.store.bulkAddAnnotations(forLibrary, true, R.Origin.REMOTE);
      root.dataset.igcbAnchored = String(forLibrary.length);
      renderLists();
      root.dataset.igcbHandedMs = String(Math.round(performance.now()));
      var n = state.anchored.length + state.orphaned.length;
      say(n === 0 ? "No comments on this page yet." : n + (n === 1 ? " comment" : " comments") + " on this page.");
      if (forLibrary.length === 0) {
        root.dataset.igcbReadyMs = String(Math.round(performance.now()));
        root.dataset.igcbAnnotations = "ready";
      }
    }).catch(function (e) {
      say("The comments could not be loaded: " + problem(e));
      root.dataset.igcbAnnotations = "failed";
    });
  }

  start();
}());
