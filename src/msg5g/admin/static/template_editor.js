/* msg5g admin, template editor: the phone preview follows the draft as it is typed.
   The form's fields go to data-preview-url (CSRF token included, it is a hidden field of the form);
   the answer is an HTML fragment (the phone, or why the draft does not compile) put in the pane.
   Only the answer to the newest request is shown. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-preview-url]");
  var pane = document.getElementById("phone-preview");
  if (!form || !pane || !window.fetch) {
    return;
  }
  var url = form.getAttribute("data-preview-url");
  var marker = form.getAttribute("data-fragment-header");
  var latest = 0;
  var timer = null;

  function refresh() {
    var mine = ++latest;
    pane.setAttribute("aria-busy", "true");
    fetch(url, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) {
        if (!response.headers.get(marker)) {
          throw new Error("not a preview");
        }
        return response.text();
      })
      .then(function (html) {
        if (mine === latest) {
          pane.innerHTML = html;
        }
      })
      .catch(function () {
        if (mine === latest) {
          pane.textContent = pane.getAttribute("data-offline");
        }
      })
      .then(function () {
        if (mine === latest) {
          pane.removeAttribute("aria-busy");
        }
      });
  }

  function soon() {
    if (timer !== null) {
      clearTimeout(timer);
    }
    timer = setTimeout(function () { timer = null; refresh(); }, 300);
  }

  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
})();
