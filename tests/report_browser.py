"""Renders a Snakemake report in real headless Chromium and measures it: a copy of the
report with a script appended that, once the page has been drawn, measures where the
title and the verdict sit, clicks every section link and records what opened, and
writes all of it into the page; Chromium's --dump-dom returns the page."""

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

# A 1366x768 screen, the commonest laptop size.
SCREEN = (1366, 768)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

MEASURE = """
<script>
(function () {
  const errors = [];
  window.addEventListener("error", (event) => errors.push(String(event.message)));
  const pause = (ms) => new Promise((done) => setTimeout(done, ms));
  const box = (element) => {
    if (!element) return null;
    const r = element.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right};
  };
  async function measure() {
    await pause(1500);
    const title = document.querySelector("#app .prose h1");
    const verdict = document.querySelector("#app .verdict");
    const out = {
      viewport: {width: window.innerWidth, height: window.innerHeight},
      loading: getComputedStyle(document.querySelector("#loading-screen")).display,
      title: box(title), title_text: title ? title.textContent : null,
      verdict: box(verdict), verdict_text: verdict ? verdict.textContent : null,
      categories: Object.keys(categories), links: [],
    };
    const links = [...document.querySelectorAll("#app a")].filter(
      (a) => (a.getAttribute("href") || "").startsWith("javascript:app.showCategory"));
    for (const link of links) {
      const name = decodeURIComponent(link.getAttribute("href").match(/showCategory\\('(.*)'\\)/)[1]);
      const before = errors.length;
      link.click();
      await pause(300);
      const nav = document.querySelector("#app nav") || document.querySelector("#app > div > div");
      out.links.push({
        text: link.textContent, name, category: app.state.category, mode: app.state.navbarMode,
        shown: nav ? nav.textContent.includes(name) : false, errors: errors.slice(before),
      });
      app.setState({navbarMode: "menu", category: undefined, subcategory: undefined});
      await pause(300);
    }
    out.errors = errors;
    const pre = document.createElement("pre");
    pre.id = "srstudy-measure";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  window.addEventListener("load", measure);
})();
</script>
"""


def find_browser() -> str | None:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    return None


def measure(report: Path, browser: str, work: Path, screen=SCREEN, timeout: int = 180) -> dict:
    """The measurements of ``report`` rendered at ``screen`` (width, height)."""
    page = work / "report_measured.html"
    text = report.read_text()
    head, tag, tail = text.rpartition("</body>")  # the page's own: embedded results may hold others
    page.write_text(head + MEASURE + tag + tail if tag else text + MEASURE)
    command = [browser, "--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars"]
    command += [f"--window-size={screen[0]},{screen[1]}", "--virtual-time-budget=60000"]
    command += [f"--user-data-dir={work / 'profile'}", "--dump-dom", page.as_uri()]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    found = re.search(r'<pre id="srstudy-measure">(.*?)</pre>', result.stdout, re.S)
    if not found:
        raise AssertionError(f"no measurements in the page (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(html.unescape(found.group(1)))


def screenshot(report: Path, browser: str, out: Path, screen=SCREEN, timeout: int = 180) -> None:
    command = [browser, "--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars"]
    command += [f"--window-size={screen[0]},{screen[1]}", "--virtual-time-budget=10000"]
    command += [f"--user-data-dir={out.parent / 'profile-shot'}", f"--screenshot={out}", report.as_uri()]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(1, "--no-sandbox")
    subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
