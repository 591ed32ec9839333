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
