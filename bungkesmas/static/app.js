// Progressive enhancement only: every page works without JavaScript.
document.addEventListener("DOMContentLoaded", function () {
  // Cascading region picker: show only the regencies of the chosen province.
  document.querySelectorAll("select[data-region-province]").forEach(function (province) {
    var form = province.form;
    var regency = form && form.querySelector("select[data-region-regency]");
    if (!regency) return;
    function filter() {
      var prefix = province.value;
      Array.prototype.forEach.call(regency.querySelectorAll("optgroup"), function (group) {
        var match = false;
        Array.prototype.forEach.call(group.children, function (opt) {
          var ok = !prefix || opt.value.indexOf(prefix) === 0;
          opt.hidden = !ok; opt.disabled = !ok;
          match = match || ok;
        });
        group.hidden = !match;
      });
      var chosen = regency.options[regency.selectedIndex];
      if (chosen && chosen.disabled) regency.value = "";
    }
    province.addEventListener("change", filter);
    filter();
  });
  // Ask before irreversible actions.
  document.querySelectorAll("button.danger").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm") || button.textContent.trim() + "?")) {
        event.preventDefault();
      }
    });
  });
});

// Cascading region pickers of the member form: province → regency → district → village,
// each filled from /wilayah/<code>. Without JavaScript the server lists the partner's
// districts and the village code is typed.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-wilayah]").forEach(function (form) {
    var url = form.getAttribute("data-wilayah");
    var placeholder = "";
    function byId(id) { return id ? form.querySelector("#" + id) : null; }
    function asSelect(el) {
      if (!el || el.tagName === "SELECT") return el;
      var select = document.createElement("select");
      ["id", "name", "class", "aria-invalid", "aria-describedby"].forEach(function (a) {
        if (el.hasAttribute(a)) select.setAttribute(a, el.getAttribute(a));
      });
      select.setAttribute("data-typed", el.value);
      el.parentNode.replaceChild(select, el);
      return select;
    }
    function options(select, list, keep) {
      select.innerHTML = "";
      var first = document.createElement("option");
      first.value = ""; first.textContent = placeholder;
      select.appendChild(first);
      list.forEach(function (r) {
        var opt = document.createElement("option");
        opt.value = r.code; opt.textContent = r.name;
        select.appendChild(opt);
      });
      select.value = keep || "";
    }
    function clear(el) {
      if (!el) return;
      if (el.tagName === "SELECT") options(el, [], ""); else el.value = "";
      clear(byId(el.getAttribute("data-wilayah-child")));
    }
    function load(target, code, keep) {
      if (!target) return;
      if (!code) { clear(target); return; }
      fetch(url.replace("CODE", encodeURIComponent(code)), {headers: {Accept: "application/json"}})
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (list) {
          if (!list.length) return;  // keep what the server rendered (or the typed code)
          var select = asSelect(target);
          options(select, list, keep);
        })
        .catch(function () { /* offline: the typed code still works */ });
    }
    form.querySelectorAll("[data-wilayah-child]").forEach(function (parent) {
      if (!placeholder && parent.options && parent.options.length) placeholder = parent.options[0].textContent;
      parent.addEventListener("change", function () {
        var child = byId(parent.getAttribute("data-wilayah-child"));
        clear(child);
        load(child, parent.value, "");
      });
    });
    // The village starts as a text box: offer the list once a district is known.
    form.querySelectorAll("select[data-wilayah-child]").forEach(function (parent) {
      var child = byId(parent.getAttribute("data-wilayah-child"));
      if (child && child.tagName === "INPUT" && parent.value) load(child, parent.value, child.value);
    });
  });
});
// "Tick all" for a table of checkboxes: <th data-check-all="NAME"> gets a checkbox that
// ticks every input[name=NAME] of its form (without JavaScript, tick them one by one).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("th[data-check-all]").forEach(function (th) {
    var form = th.closest("form");
    if (!form) return;
    var name = th.getAttribute("data-check-all");
    var all = document.createElement("input");
    all.type = "checkbox";
    all.setAttribute("aria-label", th.getAttribute("data-label") || "");
    all.addEventListener("change", function () {
      form.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
    th.appendChild(all);
  });
});
