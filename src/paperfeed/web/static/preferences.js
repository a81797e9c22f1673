// The digest preferences page, made nicer; without this script it works the same (the time
// zone stays UTC until changed, the day of the week is always shown).
// - Right after confirming (the server marks the field data-browser-zone), fill the time zone
//   with the browser's in place of the default UTC, and say so: nothing is saved until Save.
// - Show the day of the week only when the digest is weekly.
// - Drop "confirmed=1" from the address, so that a reload or a bookmark of this page does not
//   say "You're confirmed" again.
(function () {
  "use strict";
  if (window.history && window.history.replaceState && /[?&]confirmed=1/.test(location.search)) {
    var params = new URLSearchParams(location.search);
    params.delete("confirmed");
    window.history.replaceState(null, "", location.pathname + "?" + params.toString() + location.hash);
  }
  var zone = document.getElementById("timezone");
  var note = document.getElementById("timezone-note");
  if (zone && note && zone.hasAttribute("data-browser-zone")) {
    var mine = "";
    try {
      mine = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      mine = "";
    }
    if (/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)+$/.test(mine) && mine !== zone.value) {
      note.textContent = "Your browser’s time zone, in place of " + zone.value +
        ": press Save to keep it.";
      zone.value = mine;
      note.hidden = false;
    }
  }
  var frequency = document.getElementById("frequency");
  var row = document.getElementById("weekday-row");
  if (frequency && row) {
    var sync = function () { row.hidden = frequency.value !== "weekly"; };
    frequency.addEventListener("change", sync);
    sync();
  }
})();
