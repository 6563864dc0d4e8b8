/* msg5g admin, the customer-service inbox: the server streams which conversations changed
   (/admin/inbox/events); when one this page shows changed, the page's live part is fetched again and
   swapped in, so a new uplink or an assignment appears without a reload. Without this script a reload
   shows the same. */
(function () {
  "use strict";
  var live = document.getElementById("inbox-live");
  if (!live || !window.EventSource) {
    return;
  }
  var watched = live.getAttribute("data-conversation");
  var busy = false;

  function refresh() {
    if (busy) {
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("inbox-live");
        var here = document.getElementById("inbox-live");
        if (fresh && here) {
          here.innerHTML = fresh.innerHTML;
        }
      })
      .finally(function () { busy = false; });
  }

  var source = new EventSource(live.getAttribute("data-inbox-events"));
  source.addEventListener("changed", function (event) {
    var ids = JSON.parse(event.data).ids || [];
    if (!watched || ids.indexOf(watched) !== -1) {
      refresh();
    }
  });
})();
