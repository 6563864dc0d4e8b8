/* msg5g admin, material upload: a file dropped on the drop zone fills the form's file input and
   submits the form, as if chosen and sent by hand. Without this script the form works as it is. */
(function () {
  "use strict";
  var zone = document.querySelector("[data-drop-zone]");
  if (!zone) {
    return;
  }
  var input = zone.querySelector("input[type=file]");
  var form = zone.closest("form");
  if (!input || !form) {
    return;
  }

  function over(event) {
    event.preventDefault();
    zone.classList.add("dragging");
  }

  function away() {
    zone.classList.remove("dragging");
  }

  zone.addEventListener("dragenter", over);
  zone.addEventListener("dragover", over);
  zone.addEventListener("dragleave", away);
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    away();
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) {
      return;
    }
    var one = new DataTransfer();  // the input takes one file
    one.items.add(files[0]);
    input.files = one.files;
    zone.classList.add("sending");
    if (form.requestSubmit) {
      form.requestSubmit();
    } else {
      form.submit();
    }
  });
})();
