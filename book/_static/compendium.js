/* The compendium page (compendium.html): search and filters over the programmes, in the
   static book, with no server. The records are JSON in the page (#cmp-data); this script
   lists those matching the form, PAGE at a time (a "Show more" button adds the next ones),
   and keeps the choice in the address (#topic=cybersecurity) so a module page can link to a
   filtered list. Record text only ever enters the page through textContent, never as markup.
   Jupyter Book loads this file on every page: it does nothing where there is no #cmp-form. */
(function () {
  "use strict";

  // Form field -> record field. Lists match when they contain the chosen value.
  var FACETS = {type: "type", topic: "topics", region: "regions", language: "languages",
                level: "level", target: "target_groups", cost: "cost"};
  var KEYS = ["q"].concat(Object.keys(FACETS));
  // Programmes laid out at once: a filter's cost stays the same with 1,000 records.
  var PAGE = 50;

  function fold(text) {
    return String(text).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function link(url, text) {
    var a = element("a", null, text);
    if (/^https:\/\//.test(url)) a.href = url;  // the schema allows https only; be sure
    return a;
  }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function start() {
    var form = document.getElementById("cmp-form");
    var source = document.getElementById("cmp-data");
    if (!form || !source) return;
    var data = JSON.parse(source.textContent);
    var list = document.getElementById("cmp-results");
    var count = document.getElementById("cmp-count");
    var more = document.getElementById("cmp-more");
    var total = data.records.length;

    // Each select's options name the values: the labels come from the page itself.
    var labels = {};
    Object.keys(FACETS).forEach(function (key) {
      labels[key] = {};
      Array.prototype.forEach.call(form.elements[key].options, function (option) {
        labels[key][option.value] = option.textContent;
      });
    });
    function label(key, value) { return labels[key][value] || value; }
    function country(code) { return data.countries[code] || code; }

    var items = data.records.map(function (r) {
      var words = [r.name].concat(r.organisers, [r.funding, r.dates, r.apply],
                                  r.countries.map(country));
      return {record: r, text: fold(words.filter(Boolean).join("\n")), node: null};
    });

    function fact(facts, term, value) {
      if (value === null || value === undefined || value === "") return;
      facts.appendChild(element("dt", null, term));
      var dd = element("dd");
      if (typeof value === "string") dd.textContent = value; else dd.appendChild(value);
      facts.appendChild(dd);
    }

    function render(r) {
      var li = element("li", "cmp-programme");
      var title = element("h3", "cmp-name");
      title.appendChild(link(r.url, r.name));
      li.appendChild(title);
      li.appendChild(element("p", "cmp-by", "Organised by " + r.organisers.join("; ")));
      var facts = element("dl", "cmp-facts");
      fact(facts, "Type", label("type", r.type));
      fact(facts, "Format", r.modality && (data.modalities[r.modality] || r.modality));
      fact(facts, "Level", r.level && label("level", r.level));
      fact(facts, "Topics", r.topics.map(function (t) { return label("topic", t); }).join(", "));
      fact(facts, "For", r.target_groups.map(function (g) { return label("target", g); })
        .join(", "));
      fact(facts, "Where", r.regions.join(", ") +
        (r.countries.length ? " (" + r.countries.map(country).join(", ") + ")" : ""));
      fact(facts, "Languages", r.languages.map(function (l) { return label("language", l); })
        .join(", "));
      fact(facts, "Cost", r.cost && label("cost", r.cost));
      fact(facts, "Funding", r.funding);
      fact(facts, "Dates", r.dates);
      fact(facts, "How to apply", r.apply);
      var checked = document.createDocumentFragment();
      checked.appendChild(document.createTextNode(r.checked + ", against "));
      r.sources.forEach(function (url, i) {
        if (i) checked.appendChild(document.createTextNode(", "));
        checked.appendChild(link(url, url.replace(/^https:\/\//, "").replace(/\/$/, "")));
      });
      fact(facts, "Facts checked", checked);
      li.appendChild(facts);
      return li;
    }

    function state() {
      var chosen = {};
      KEYS.forEach(function (key) { chosen[key] = form.elements[key].value; });
      return chosen;
    }

    function matches(item, terms, chosen) {
      var r = item.record;
      for (var key in FACETS) {
        var want = chosen[key];
        if (!want) continue;
        var value = r[FACETS[key]];
        if (Array.isArray(value)) {
          if (value.indexOf(want) < 0 &&
              !(key === "region" && want !== "Global" && value.indexOf("Global") >= 0)) {
            return false;
          }
        } else if (value !== want) {
          return false;
        }
      }
      for (var i = 0; i < terms.length; i++) {
        if (item.text.indexOf(terms[i]) < 0) return false;
      }
      return true;
    }

    var found = [];   // the matching items, in the page's order
    var listed = 0;   // how many of them are in the list
    var shown = null; // the choice they were found for

    // Add the next PAGE of found programmes to the list; return the first one added.
    function showMore() {
      var next = document.createDocumentFragment();
      var end = Math.min(found.length, listed + PAGE);
      var first = null;
      for (var i = listed; i < end; i++) {
        var item = found[i];
        if (!item.node) item.node = render(item.record);
        if (!first) first = item.node;
        next.appendChild(item.node);
      }
      list.appendChild(next);
      listed = end;
      var rest = found.length - listed;
      more.hidden = rest === 0;
      more.textContent = "Show " + Math.min(PAGE, rest) + " more (" + rest + " not shown yet)";
      return first;
    }

    function update(keepAddress) {
      var chosen = state();
      var key = JSON.stringify(chosen);
      if (key === shown) return;
      shown = key;
      var terms = fold(chosen.q).split(/\s+/).filter(Boolean);
      found = items.filter(function (item) { return matches(item, terms, chosen); });
      list.replaceChildren();
      listed = 0;
      showMore();
      var n = found.length;
      count.textContent = n === 0 ? "No programme matches"
        : (n === total ? "All " + plural(total, "programme")
                       : n + " of " + plural(total, "programme") + " match");
      if (!keepAddress) remember(chosen);
    }

    function remember(chosen) {
      var params = new URLSearchParams();
      KEYS.forEach(function (key) { if (chosen[key]) params.set(key, chosen[key]); });
      var hash = params.toString();
      try {
        history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
      } catch (err) { /* some file:// pages refuse: the filter still works */ }
    }

    function fromAddress() {
      var hash = location.hash.slice(1);
      if (hash.indexOf("=") < 0) return;  // a heading's anchor, not a filter
      var params = new URLSearchParams(hash);
      KEYS.forEach(function (key) {
        var field = form.elements[key];
        var value = params.get(key) || "";
        if (field.tagName === "SELECT" &&
            !Array.prototype.some.call(field.options, function (o) { return o.value === value; })) {
          value = "";
        }
        field.value = value;
      });
      update(true);
    }

    form.addEventListener("input", function () { update(false); });
    form.addEventListener("change", function () { update(false); });
    form.addEventListener("submit", function (event) { event.preventDefault(); update(false); });
    document.getElementById("cmp-clear").addEventListener("click", function () {
      KEYS.forEach(function (key) { form.elements[key].value = ""; });
      update(false);
      form.elements.q.focus();
    });
    more.addEventListener("click", function () {
      var first = showMore();
      if (first) first.querySelector("a").focus();  // keyboard and screen reader go on there
    });
    window.addEventListener("hashchange", fromAddress);
    fromAddress();
    update(true);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
