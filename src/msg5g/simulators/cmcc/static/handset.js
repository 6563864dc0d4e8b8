// The CMCC simulator's handset page, made live. Without this script the page still works: its forms post
// and come back, and a <noscript> refresh brings news. With it, the same forms post in the background and
// the chat log is polled, so new messages appear without reloading. What the server sends as `html` is
// the log it renders itself, escaped there; what this script shows of its own goes in as text only.
(function () {
  "use strict";

  var chat = document.getElementById("chat");
  var log = document.getElementById("log");
  var pending = document.getElementById("pending");
  if (!chat || !log || !pending) {
    return;
  }
  var pollUrl = chat.getAttribute("data-poll");
  var version = chat.getAttribute("data-version") || "";
  var status = document.querySelector("[data-status]");
  var clock = document.querySelector(".statusbar .clock");
  var POLL_MS = 1000;
  var HIDDEN_POLL_MS = 4000;
  var MAX_BACKOFF_MS = 10000;
  var failures = 0;
  var chain = Promise.resolve();

  function nearBottom() {
    return chat.scrollHeight - chat.scrollTop - chat.clientHeight < 80;
  }

  function toBottom() {
    chat.scrollTop = chat.scrollHeight;
  }

  function fetchLog() {
    var url = pollUrl + "&since=" + encodeURIComponent(version);
    return fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("poll answered " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (status && typeof data.status === "string") {
          status.textContent = data.status;
        }
        if (data.changed && typeof data.html === "string") {
          var stick = nearBottom();
          log.innerHTML = data.html;
          version = String(data.version);
          chat.setAttribute("data-version", version);
          if (stick) {
            toBottom();
          }
        }
        failures = 0;
      });
  }

  // One poll at a time, in order: a refresh asked for while one runs follows it.
  function refresh() {
    chain = chain.then(fetchLog, fetchLog).catch(function () {
      failures += 1;
    });
    return chain;
  }

  function schedule() {
    var delay = document.hidden ? HIDDEN_POLL_MS : POLL_MS;
    if (failures > 0) {
      delay = Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, failures));
    }
    window.setTimeout(function () {
      refresh().then(schedule, schedule);
    }, delay);
  }

  function pendingBubble(text) {
    var row = document.createElement("div");
    row.className = "row out";
    var bubble = document.createElement("div");
    bubble.className = "bubble out pending";
    bubble.textContent = text;
    var meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = "sending…";
    row.appendChild(bubble);
    row.appendChild(meta);
    pending.appendChild(row);
    toBottom();
    return row;
  }

  function toast(message) {
    var note = document.createElement("div");
    note.className = "toast";
    note.setAttribute("role", "alert");
    note.textContent = message;
    pending.appendChild(note);
    toBottom();
    window.setTimeout(function () {
      note.remove();
    }, 6000);
  }

  function post(form) {
    return fetch(form.getAttribute("action"), {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { Accept: "application/json" },
    }).then(function (response) {
      return response.json().then(
        function (data) {
          if (!response.ok) {
            throw new Error(data && data.error ? data.error : "answered " + response.status);
          }
          var sent = data.uplink || data;
          if (sent && sent.ok === false) {
            toast("not delivered: " + (sent.status !== null ? "CSP answered " + sent.status : sent.error));
          }
          return data;
        },
        function () {
          throw new Error("answered " + response.status);
        }
      );
    });
  }

  function send(form, text) {
    var bubble = pendingBubble(text);
    return post(form)
      .catch(function (error) {
        toast("not sent: " + error.message);
      })
      .then(refresh)
      .then(function () {
        bubble.remove();
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !chat.parentNode.contains(form)) {
      return;
    }
    if (form.classList.contains("composer")) {
      event.preventDefault();
      var input = form.elements.namedItem("text");
      var text = input && input.value.trim();
      if (!text) {
        return;
      }
      send(form, text); // reads the form before it is cleared
      input.value = "";
      input.focus();
    } else if (form.classList.contains("tap")) {
      event.preventDefault();
      var button = form.querySelector("button");
      var opens = form.getAttribute("data-open-url");
      if (opens) {
        // Opened now, inside the click, so no popup blocker takes it for an unasked window.
        window.open(opens, "_blank", "noopener,noreferrer");
      }
      if (button) {
        button.disabled = true;
      }
      var chips = form.closest(".chips");
      if (chips) {
        chips.hidden = true;
      }
      send(form, button ? button.getAttribute("data-text") || button.textContent : "").then(function () {
        if (button) {
          button.disabled = false;
        }
      });
    }
  });

  function tick() {
    if (clock && window.Intl) {
      clock.textContent = new Intl.DateTimeFormat("zh-CN", {
        timeZone: "Asia/Shanghai",
        hour: "2-digit",
        minute: "2-digit",
        hour12: false,
      }).format(new Date());
    }
  }

  toBottom();
  tick();
  window.setInterval(tick, 30000);
  schedule();
})();
