// Aqd's one page script (served from /static/, as the Content-Security-Policy wants): the main
// menu folds behind a "Menu" button on narrow screens. Without this script the menu stays
// unfolded, wrapped under the header, so every page still works.
(function () {
  'use strict';

  function setUp() {
    var bar = document.querySelector('header.bar');
    var toggle = bar && bar.querySelector('.menu-toggle');
    var menu = toggle && document.getElementById(toggle.getAttribute('aria-controls'));
    if (!menu) {
      return;
    }
    function show(open) {
      toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
      bar.classList.toggle('menu-open', open);
    }
    toggle.hidden = false;
    bar.classList.add('menu-ready');
    toggle.addEventListener('click', function () {
      show(toggle.getAttribute('aria-expanded') !== 'true');
    });
    document.addEventListener('keydown', function (event) {
      if (event.key === 'Escape' && bar.classList.contains('menu-open')) {
        show(false);
        toggle.focus();
      }
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', setUp);
  } else {
    setUp();
  }
})();
