// Keyboard shortcuts and live queue refresh for the supervisor console. No framework, no build step.
(function () {
  "use strict";
  const page = document.body.dataset.page;
  const help = document.getElementById("help");
  const labels = { approve: "Approve", reject: "Reject", request_info: "Request information on", escalate: "Escalate" };

  function typing(target) {
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }
  function submit(form) { if (form) { form.requestSubmit ? form.requestSubmit() : form.submit(); } }

  document.getElementById("help-toggle").addEventListener("click", function () { help.hidden = !help.hidden; });

  // Arming an action selects it and moves focus to the submit button: Enter records it, Esc cancels.
  function arm(action) {
    const form = document.getElementById("decision-form");
    if (!form) { return; }
    const radio = form.querySelector('input[name="action"][value="' + action + '"]');
    radio.checked = true;
    const bar = document.getElementById("confirm-bar");
    const caseId = document.querySelector(".case-head h1").firstChild.textContent.trim();
    bar.textContent = labels[action] + " " + caseId + "? Enter to confirm, Esc to cancel.";
    bar.hidden = false;
    form.dataset.armed = action;
    document.getElementById("submit-decision").focus();
  }
  function disarm() {
    const form = document.getElementById("decision-form");
    if (!form || !form.dataset.armed) { return false; }
    form.querySelectorAll('input[name="action"]').forEach(function (r) { r.checked = false; });
    document.getElementById("confirm-bar").hidden = true;
    delete form.dataset.armed;
    document.activeElement.blur();
    return true;
  }

  function next() {
    const release = document.getElementById("release-form");
    if (release) {
      release.querySelector('input[name="then"]').value = "next";
      submit(release);
      return;
    }
    submit(document.getElementById("claim-form"));
  }

  let selected = -1;
  function rows() { return Array.from(document.querySelectorAll("#queue-rows tr[data-href]")); }
  function select(delta) {
    const all = rows();
    if (!all.length) { return; }
    selected = Math.max(0, Math.min(all.length - 1, selected + delta));
    all.forEach(function (r, i) { r.classList.toggle("selected", i === selected); });
    all[selected].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") {
      if (!help.hidden) { help.hidden = true; return; }
      disarm();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) { return; }
    const key = ev.key;
    if (key === "?") { help.hidden = !help.hidden; ev.preventDefault(); return; }
    if (key === "n") { ev.preventDefault(); next(); return; }
    if (key === "q" && page !== "queue") { ev.preventDefault(); window.location.href = "/console/queue"; return; }
    if (page === "case") {
      const map = { a: "approve", r: "reject", i: "request_info", e: "escalate" };
      if (map[key]) { ev.preventDefault(); arm(map[key]); }
      return;
    }
    if (page === "queue") {
      if (key === "j") { ev.preventDefault(); select(1); }
      else if (key === "k") { ev.preventDefault(); select(-1); }
      else if ((key === "o" || key === "Enter") && selected >= 0) {
        ev.preventDefault();
        window.location.href = rows()[selected].dataset.href;
      }
    }
  });

  // Keep the queue current: re-fetch the table body every few seconds while the tab is visible.
  const table = document.getElementById("queue");
  if (table) {
    const refresh = function () {
      if (document.hidden) { return; }
      fetch(table.dataset.rowsUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) {
          if (r.status === 401) { window.location.href = "/console/sign-in"; return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html === null) { return; }
          const body = document.getElementById("queue-rows");
          const keep = selected >= 0 && rows()[selected] ? rows()[selected].dataset.item : null;
          body.innerHTML = html;
          table.dataset.refreshed = String(Date.now());
          if (keep) {
            selected = rows().findIndex(function (r) { return r.dataset.item === keep; });
            if (selected >= 0) { rows()[selected].classList.add("selected"); }
          }
        })
        .catch(function () { /* offline for a moment: the next tick retries */ });
    };
    window.setInterval(refresh, Number(table.dataset.interval || 3000));
  }
})();
