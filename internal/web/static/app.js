// Enhancements only: every form works without this file.
(function () {
  'use strict';
  // Ask before releasing a number; the server checks anyway.
  document.addEventListener('submit', function (e) {
    var f = e.target;
    if (f.getAttribute('action') === '/ui/numbers/release' && !window.confirm('Release this number? It goes back to the carrier.')) {
      e.preventDefault();
    }
  });
  // Move focus to the first field with an error, or to the flash message, after a post.
  document.addEventListener('DOMContentLoaded', function () {
    var bad = document.querySelector('[aria-invalid="true"]');
    if (bad) { bad.focus(); return; }
    var flash = document.getElementById('flash');
    if (flash) { flash.setAttribute('tabindex', '-1'); }
  });
})();
