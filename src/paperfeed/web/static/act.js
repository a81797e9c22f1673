// Upvote, save and "Not interested" on a list act in place: the form is posted for JSON (the
// same route, CSRF token and origin check as without JavaScript) and the card's buttons and
// counts change where they are, so the list keeps its place. On a paper's own page (tags to
// type) and whenever the answer is not a plain success, the form is posted as usual, and the
// server sends the reader back to the same card (#p-ID in its `next`).
"use strict";
(() => {
  function setCount(card, which, delta) {
    const span = card && card.querySelector(`.counts .${which}`);
    if (!span || !delta) return;
    const text = span.firstChild;
    const label = span.querySelector(".label");
    const found = text && text.nodeType === Node.TEXT_NODE && text.data.match(/(\d+)/);
    if (!found) return;
    const n = Math.max(0, Number(found[1]) + delta);
    text.data = text.data.replace(/\d+/, String(n));
    if (label) label.textContent = which === "votes" ? (n === 1 ? "upvote" : "upvotes")
      : (n === 1 ? "save" : "saves");
  }

  function show(actions, mine) {
    for (const form of actions.querySelectorAll("form.act")) {
      const kind = form.dataset.kind;
      const button = form.querySelector("button[type=submit]");
      const on = mine.has(kind);
      const was = button.getAttribute("aria-pressed") === "true";
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? button.dataset.on : button.dataset.off;
      button.title = on ? "Undo" : button.dataset.off;
      let undo = form.querySelector("input[name=undo]");
      if (on && !undo) {
        undo = document.createElement("input");
        undo.type = "hidden";
        undo.name = "undo";
        undo.value = "1";
        form.append(undo);
      } else if (!on && undo) {
        undo.remove();
      }
      const card = form.closest("article.paper");
      if (kind === "upvote") setCount(card, "votes", on - was);
      if (kind === "save") setCount(card, "saves", on - was);
      if (kind === "hide" && card) card.classList.toggle("hidden-paper", on);
    }
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("form.act")) return;
    if (form.closest("article.paper.full")) return; // a paper's page: post as usual
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    let answer = null;
    try {
      answer = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
    } catch {
      answer = null;
    }
    button.disabled = false;
    if (!answer || !answer.ok) {
      form.submit(); // the server's own answer: a sign-in page, an error in words
      return;
    }
    const { mine } = await answer.json();
    show(form.closest(".actions"), new Set(mine));
  });
})();
