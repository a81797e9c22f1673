// "Copy BibTeX" and "Copy link" on a paper page. Without JavaScript the buttons stay hidden
// and the BibTeX and the link are there as text to select.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const status = document.querySelector(".cite .copied");
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const text = "value" in source ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text);
        if (status) status.textContent = button.textContent.replace("Copy ", "") + " copied.";
      } catch {
        if (status) status.textContent = "The browser did not allow copying; select the text instead.";
      }
    });
  }
});
