/* msg5g admin, registering a chatbot account: only the chosen channel's credential fields show, and the
   others are disabled so that they are neither checked nor sent. Without this script every channel
   type's fields show and the server reads those of the chosen channel. */
(function () {
  "use strict";
  var form = document.querySelector("[data-register-form]");
  if (!form) {
    return;
  }
  var select = form.querySelector("[data-channel-select]");
  var sets = form.querySelectorAll("[data-credentials-for]");
  if (!select || !sets.length) {
    return;
  }

  function show() {
    var option = select.options[select.selectedIndex];
    var type = option ? option.getAttribute("data-type") : null;
    for (var i = 0; i < sets.length; i++) {
      var mine = sets[i].getAttribute("data-credentials-for") === type;
      sets[i].hidden = !mine;
      sets[i].disabled = !mine;
    }
  }

  select.addEventListener("change", show);
  show();
})();
