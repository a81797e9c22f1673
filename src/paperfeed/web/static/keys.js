// Keyboard shortcuts on every page: "/" search, j/k next/previous paper, o open it, s save it,
// "?" this list. Off inside text fields and with Ctrl, Alt or Meta held; without JavaScript
// every page works as before (the shortcuts only move focus and follow the page's own links
// and forms).
"use strict";
(() => {
  const KEYS = [
    ["/", "search"],
    ["j", "next paper"],
    ["k", "previous paper"],
    ["o", "open the paper"],
    ["s", "save (or unsave) the paper"],
    ["?", "show or hide this list"],
  ];
  let current = -1;
  const hint = document.getElementById("keys-hint");  // hidden without JavaScript
  if (hint) hint.hidden = false;

  const papers = () => Array.from(document.querySelectorAll("main article.paper"));

  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable ||
      ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function select(index) {
    const all = papers();
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    for (const [i, p] of all.entries()) p.classList.toggle("current", i === current);
    const link = all[current].querySelector("h2 a");
    if (link) link.focus({ preventScroll: true });
    all[current].scrollIntoView({ block: "nearest" });
  }

  function help() {
    let dialog = document.getElementById("keys-help");
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.id = "keys-help";
      dialog.setAttribute("aria-label", "Keyboard shortcuts");
      const title = document.createElement("h2");
      title.textContent = "Keyboard shortcuts";
      const list = document.createElement("dl");
      for (const [key, what] of KEYS) {
        const dt = document.createElement("dt");
        const kbd = document.createElement("kbd");
        kbd.textContent = key;
        dt.append(kbd);
        const dd = document.createElement("dd");
        dd.textContent = what;
        list.append(dt, dd);
      }
      const close = document.createElement("button");
      close.type = "button";
      close.textContent = "Close";
      close.addEventListener("click", () => dialog.close());
      dialog.append(title, list, close);
      document.body.append(dialog);
    }
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) return;
    const all = papers();
    const paper = all[current];
    switch (event.key) {
      case "/": {
        const box = document.querySelector("form.searchbox input[name=q]");
        if (!box) return;
        box.focus();
        box.select();
        break;
      }
      case "j": if (!all.length) return; select(current + 1); break;
      case "k": if (!all.length) return; select(current < 0 ? 0 : current - 1); break;
      case "o": {
        const link = paper && paper.querySelector("h2 a");
        if (!link) return;
        link.click();
        break;
      }
      case "s": {
        const form = paper && paper.querySelector("form.act[data-kind=save]");
        if (!form) return;
        form.requestSubmit();
        break;
      }
      case "?": help(); break;
      default: return;
    }
    event.preventDefault();
  });
})();
