"""Real-browser checks of the built Sphinx site (headless Chromium via Selenium).

    python tests/browser/site_check.py --site docs/_build/html --axe build/browser/node_modules/axe-core/axe.min.js \
        --screenshots build/browser/screenshots

Serves the folder with ``http.server`` on 127.0.0.1 (a free port, in a thread), opens every HTML page of the
site and checks on each:

* no console errors (browser log level SEVERE: script errors, failed resource loads);
* every ``<img>`` has loaded (``complete`` and ``naturalWidth > 0``);
* every internal link resolves to a file of the site, and its ``#fragment`` exists as an ``id`` (or ``<a name>``)
  on the target page; external links are listed, never fetched;
* text in every chart image is at least ``MIN_CHART_TEXT_PX`` high as rendered at the laptop width (the chart's
  smallest font, ``data-min-font-pt`` on the ``<img>``, scaled by rendered width / natural width);
* no table overflows its container without the scroll cue (``.is-overflowing``, added by ``a11y.js``);
* at the phone width the page itself never scrolls sideways;
* axe-core reports no violation of impact "serious" or "critical" (lower impacts are printed as warnings), in
  the light and the dark colour scheme (the theme follows the reader's OS setting and has a switcher), at a
  laptop width and a phone width (where tables and outputs scroll sideways). At each width every rule runs in
  the first scheme; in the next one only the colour rules (``COLOUR_RULES``) run again when the switch changed
  nothing but colours -- every element keeps its attributes, text, visibility, position and size, so every
  other rule reads the same page -- and every rule runs again when anything else changed.

Pages are shared between two browsers (``--drivers``), each with its own profile, so both cores work; the
results do not depend on which browser checked a page (each page is checked as a first visit).

Prints one summary line per page, the failures under it, and finally ``N passed, M failed``; exits 1 when a page
fails. Nothing is downloaded: the driver and browser are the system ones and Selenium Manager is disabled.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
MIN_CHART_TEXT_PX = 12.0  # the page's small print at a laptop width
WINDOW = (1280, 900)  # a laptop: the theme's desktop layout with both sidebars
VIEWPORTS = ((1280, 900), (390, 844))  # that laptop and a phone (the theme's mobile layout)
MODES = ("light", "dark")
FAILING_IMPACTS = {"serious", "critical"}
#: The axe rules whose result depends on colours (axe's tag ``cat.color``, less the AAA contrast rule that axe
#: leaves off by default): all a change of colour scheme alone can change.
COLOUR_RULES = ("color-contrast", "link-in-text-block")
#: axe's colour rules that are off by default, and so not in :data:`COLOUR_RULES`.
COLOUR_RULES_OFF_BY_DEFAULT = frozenset({"color-contrast-enhanced"})
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads"}  # assets and theme templates, not pages
SCREENSHOT_PAGE = "_generated/sites/lancashire/crisis_demand.html"
SCREENSHOT_WIDTHS = (1280, 390)  # a laptop and a phone
MAX_SCREENSHOT_HEIGHT = 16000  # Chromium's texture limit; longer pages are cut there
#: Browsers checking pages side by side. Each page's checks are CPU work in its own Chromium, so two browsers
#: use both cores of a CI machine; more than the cores only adds switching.
DRIVERS = max(1, min(2, os.cpu_count() or 1))


# ----------------------------------------------------------------------------------------------- results


@dataclass
class AxeViolation:
    rule: str
    impact: str
    help: str
    nodes: int  # the most nodes seen in any one context
    examples: list[str]  # the first few nodes, from the first context that failed
    contexts: list[str] = field(default_factory=list)  # "light 1366px", "dark 390px", ...

    def line(self) -> str:
        ex = "; ".join(self.examples)
        where = ", ".join(self.contexts)
        return f"axe {self.rule} ({self.impact}, {self.nodes} node(s); {where}): {self.help} -- {ex}"


@dataclass
class PageResult:
    page: str
    console_errors: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    broken_links: list[str] = field(default_factory=list)
    layout: list[str] = field(default_factory=list)  # small chart text, silent table overflow, sideways scroll
    axe_failing: list[AxeViolation] = field(default_factory=list)
    axe_warnings: list[AxeViolation] = field(default_factory=list)
    external_links: list[str] = field(default_factory=list)
    images: int = 0
    internal_links: int = 0
    error: str = ""  # the page could not be checked at all
    axe_runs: list[str] = field(default_factory=list)  # "dark 390px: colour rules", ... (which rules ran where)

    @property
    def passed(self) -> bool:
        return not (self.error or self.console_errors or self.broken_images or self.broken_links or self.layout
                    or self.axe_failing)

    def problems(self) -> list[str]:
        out = [f"error: {self.error}"] if self.error else []
        out += [f"console: {m}" for m in self.console_errors]
        out += [f"image: {m}" for m in self.broken_images]
        out += [f"link: {m}" for m in self.broken_links]
        out += [f"layout: {m}" for m in self.layout]
        out += [v.line() for v in self.axe_failing]
        return out

    def summary(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        return (
            f"{status} {self.page}: {self.images} img, {self.internal_links} internal / "
            f"{len(self.external_links)} external links, console errors {len(self.console_errors)}, "
            f"broken images {len(self.broken_images)}, broken links {len(self.broken_links)}, "
            f"layout problems {len(self.layout)}, "
            f"axe serious/critical {len(self.axe_failing)}, axe minor/moderate {len(self.axe_warnings)} "
            f"(every rule in {sum(r.endswith('every rule') for r in self.axe_runs)} of {len(self.axe_runs)} runs)"
        )


@dataclass
class _Visit:
    """What the browser saw on one page, before links are resolved across the whole site."""

    links: list[tuple[str, str]]  # (href as written, absolute URL)
    anchors: set[str]


# ------------------------------------------------------------------------------------------------ server


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 at a free port in a background thread; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ------------------------------------------------------------------------------------------------ driver


@contextlib.contextmanager
def chromium() -> Iterator[WebDriver]:
    """Headless Chromium through the system chromedriver, with a fresh profile. Never downloads anything."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Selenium Manager is skipped when the driver path is given; make sure it could not fetch anything anyway.
    os.environ["SE_OFFLINE"] = "true"
    os.environ.setdefault("SE_MANAGER_PATH", shutil.which("false") or "/bin/false")
    profile = tempfile.mkdtemp(prefix="site-check-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(300)  # axe on a long page with many tables
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# ----------------------------------------------------------------------------------------------- helpers


def find_pages(site: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Every HTML page of the built site, as a POSIX path relative to ``site``, sorted."""
    pages = []
    for dirpath, dirnames, filenames in os.walk(site):
        rel_dir = Path(dirpath).relative_to(site)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        pages += [(rel_dir / f).as_posix() for f in filenames if f.endswith(".html")]
    return sorted(p for p in pages if p not in skip)


def ensure_axe(prefix: Path | None = None) -> Path:
    """Install the pinned axe-core into ``prefix`` (build/browser) with npm when missing; return axe.min.js."""
    prefix = prefix or ROOT / "build" / "browser"
    out = subprocess.run(
        ["bash", str(HERE / "install_axe.sh"), str(prefix)], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if value and (key == "id" or (key == "name" and tag == "a")):
                self.anchors.add(value)


@functools.lru_cache(maxsize=256)
def _static_anchors(path: Path) -> frozenset[str]:
    parser = _AnchorParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.anchors)


_IMAGES_JS = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
imgs.forEach(i => { if (i.loading === 'lazy') i.loading = 'eager'; });
const pending = imgs.filter(i => !i.complete).map(i => new Promise(r => {
  i.addEventListener('load', r, {once: true}); i.addEventListener('error', r, {once: true});
}));
Promise.race([Promise.all(pending), new Promise(r => setTimeout(r, 15000))]).then(() => done(imgs.map(i => ({
  src: (i.currentSrc || i.src || i.getAttribute('src') || ''), complete: i.complete, width: i.naturalWidth,
  alt: i.getAttribute('alt')}))));
"""

_LINKS_JS = """
return {
  links: Array.from(document.querySelectorAll('a[href], area[href]')).map(a => [a.getAttribute('href'), a.href]),
  anchors: Array.from(document.querySelectorAll('[id]')).map(e => e.id)
    .concat(Array.from(document.querySelectorAll('a[name]')).map(e => e.getAttribute('name'))),
};
"""

_LAYOUT_JS = """
const minPx = arguments[0];
const out = {charts: [], tables: [], pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth};
document.querySelectorAll('figure img, .cell_output img').forEach(img => {
  const pt = parseFloat(img.dataset.minFontPt || 'NaN');
  const natural = img.naturalWidth, shown = img.getBoundingClientRect().width;
  if (!natural || !shown) return;
  const px = pt * (4 / 3) * shown / natural;
  out.charts.push({src: (img.getAttribute('src') || '').slice(0, 80), pt: isNaN(pt) ? null : pt,
                   px: isNaN(px) ? null : Math.round(px * 10) / 10});
});
document.querySelectorAll('table').forEach(table => {
  const box = table.closest('.table-scroll, .pst-scrollable-table-container') || table.parentElement;
  if (box.scrollWidth > box.clientWidth + 1 && !box.classList.contains('is-overflowing')) {
    const cap = table.querySelector('caption');
    out.tables.push((cap ? cap.textContent : table.textContent).replace(/\\s+/g, ' ').trim().slice(0, 60));
  }
});
return out;
"""


def _check_layout(driver: WebDriver, width: int, result: PageResult) -> None:
    """Chart text size (laptop width only), tables that overflow silently, and sideways scrolling (phone)."""
    found = driver.execute_script(_LAYOUT_JS, MIN_CHART_TEXT_PX)
    if width >= 1000:
        for chart in found["charts"]:
            if chart["pt"] is None:
                result.layout.append(f"chart {chart['src']}: no data-min-font-pt, text size cannot be checked")
            elif chart["px"] < MIN_CHART_TEXT_PX:
                result.layout.append(f"chart {chart['src']}: smallest text {chart['px']} px at {width} px wide "
                                     f"(at least {MIN_CHART_TEXT_PX:g} px)")
    for table in found["tables"]:
        result.layout.append(f"table overflows at {width} px with no scroll cue: {table!r}")
    if width < 600 and found["pageWidth"] > found["viewport"] + 1:
        result.layout.append(f"page scrolls sideways at {width} px ({found['pageWidth']} px of content)")


_AXE_JS = """
const done = arguments[arguments.length - 1];
const options = {resultTypes: ['violations']};
if (arguments[0]) options.runOnly = {type: 'rule', values: arguments[0]};
axe.run(document, options)
  .then(r => done(JSON.stringify(r.violations)))
  .catch(e => done(JSON.stringify({error: String(e && e.stack || e)})));
"""

#: Every element's attributes, own text, visibility, position and size, as one string (the theme's
#: colour-scheme switcher left out: its icon is meant to change with the scheme, inside a button whose name does
#: not). Long attribute values (pictures as data URIs) are kept as their start and length.
_PAGE_STATE_JS = """
const cut = v => v.length > 200 ? v.slice(0, 200) + '#' + v.length : v;
const parts = [];
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('.theme-switch-button')) continue;
  const s = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  const attrs = el.getAttributeNames().map(n => n + '=' + cut(el.getAttribute(n)));
  const text = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.data).join('');
  parts.push([el.tagName, attrs.join(' '), cut(text), s.display, s.visibility, s.opacity, s.contentVisibility,
              s.clipPath, Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height)]
             .join('\\t'));
}
return parts.join('\\n');
"""

_COLOUR_RULES_JS = "return axe.getRules(['cat.color']).map(r => r.ruleId);"


def _short_src(src: str) -> str:
    return src[:60] + "..." if src.startswith("data:") else src


def _describe_node(node: dict[str, Any]) -> str:
    target = " ".join(str(t) for t in node.get("target", []))
    html = " ".join(node.get("html", "").split())
    html = html if len(html) <= 160 else html[:157] + "..."
    extra = ""
    for check in node.get("any", []) + node.get("all", []) + node.get("none", []):
        data = check.get("data")
        if isinstance(data, dict) and "contrastRatio" in data:
            extra = (
                f" [fg {data.get('fgColor')} on bg {data.get('bgColor')}, ratio {data.get('contrastRatio')},"
                f" needs {data.get('expectedContrastRatio')}]"
            )
            break
    return f"{target} {html}{extra}"


# ------------------------------------------------------------------------------------------------- checks


def _load_axe(driver: WebDriver, axe_source: str) -> None:
    """Load axe-core into the page once, and check that its colour rules are the ones this check knows."""
    if driver.execute_script("return typeof window.axe === 'object'"):
        return
    driver.execute_script(axe_source)
    unknown = set(driver.execute_script(_COLOUR_RULES_JS)) - set(COLOUR_RULES) - COLOUR_RULES_OFF_BY_DEFAULT
    if unknown:
        raise RuntimeError(f"axe-core has colour rules this check does not run after a scheme switch: "
                           f"{sorted(unknown)} (add them to COLOUR_RULES)")


def _run_axe(driver: WebDriver, axe_source: str, context: str, result: PageResult,
             rules: tuple[str, ...] | None = None) -> None:
    """Run axe-core on the page as it is now (every rule, or only ``rules``); merge its violations into
    ``result`` (one entry per rule)."""
    _load_axe(driver, axe_source)
    raw = json.loads(driver.execute_async_script(_AXE_JS, list(rules) if rules else None))
    if isinstance(raw, dict):
        raise RuntimeError(f"axe-core failed: {raw['error']}")
    for v in raw:
        nodes = v.get("nodes", [])
        impact = v.get("impact") or "unknown"
        bucket = result.axe_failing if impact in FAILING_IMPACTS else result.axe_warnings
        known = next((k for k in bucket if k.rule == v["id"] and k.impact == impact), None)
        if known is None:
            known = AxeViolation(v["id"], impact, v.get("help", ""), 0, [_describe_node(n) for n in nodes[:3]])
            bucket.append(known)
        known.nodes = max(known.nodes, len(nodes))
        known.contexts.append(context)


_MODE_JS = """
if (!document.getElementById('site-check-no-transitions')) {
  const style = document.createElement('style');
  style.id = 'site-check-no-transitions';  // axe must see the final colours, not a colour mid-transition
  style.textContent = '*, *::before, *::after { transition: none !important; animation: none !important; }';
  document.head.appendChild(style);
}
document.documentElement.dataset.mode = arguments[0];
document.documentElement.dataset.theme = arguments[0];
return getComputedStyle(document.body).color;  // forces the style recalculation
"""


def _set_mode(driver: WebDriver, mode: str) -> None:
    """Switch the pydata theme's colour scheme the way its own switcher does (data-mode / data-theme)."""
    driver.execute_script(_MODE_JS, mode)
    time.sleep(0.05)


def _visit(
    driver: WebDriver,
    base: str,
    page: str,
    axe_source: str,
    modes: tuple[str, ...] = MODES,
    viewports: tuple[tuple[int, int], ...] = VIEWPORTS,
) -> tuple[PageResult, _Visit]:
    result = PageResult(page)
    if driver.current_url.startswith(base):
        # Every page as a first visit: results must not depend on the order pages are checked in.
        driver.execute_script("localStorage.clear(); sessionStorage.clear();")
    driver.get_log("browser")  # drain whatever the previous page left
    driver.set_window_size(*viewports[0])
    driver.get(base + page)
    driver.execute_script("return document.readyState")
    time.sleep(0.3)  # let deferred scripts run and report
    images = driver.execute_async_script(_IMAGES_JS)
    result.images = len(images)
    for img in images:
        if not img["complete"] or img["width"] <= 0:
            result.broken_images.append(
                f"{_short_src(img['src'])} (complete={img['complete']}, naturalWidth={img['width']})"
            )
    found = driver.execute_script(_LINKS_JS)
    visit = _Visit(links=[tuple(x) for x in found["links"]], anchors=set(found["anchors"]))
    for i, (width, height) in enumerate(viewports):
        if i:
            driver.set_window_size(width, height)
            time.sleep(0.6)  # the theme re-marks scrollable regions 300 ms after a resize
        _check_layout(driver, width, result)
        first_state = None
        for mode in modes:
            _set_mode(driver, mode)
            state = driver.execute_script(_PAGE_STATE_JS)
            only_colours = first_state is not None and state == first_state
            _run_axe(driver, axe_source, f"{mode} {width}px", result, COLOUR_RULES if only_colours else None)
            result.axe_runs.append(f"{mode} {width}px: {'colour rules' if only_colours else 'every rule'}")
            first_state = first_state or state
    declares_icon = driver.execute_script("return !!document.querySelector('link[rel~=\"icon\"]')")
    for entry in driver.get_log("browser"):
        message = " ".join(str(entry.get("message", "")).split())
        if entry.get("level") != "SEVERE":
            continue
        if not declares_icon and message.startswith(base + "favicon.ico "):
            continue  # Chromium's own guess at /favicon.ico, not something the page asked for
        result.console_errors.append(message)
    return result, visit


def _resolve_links(site: Path, base: str, result: PageResult, visit: _Visit, seen: dict[str, _Visit]) -> None:
    base_parts = urlsplit(base)
    site = site.resolve()
    for href, absolute in visit.links:
        url = urlsplit(absolute)
        if url.scheme in ("javascript", "data"):
            continue
        if url.scheme not in ("http", "https") or url.netloc != base_parts.netloc:
            result.external_links.append(absolute or href)
            continue
        result.internal_links += 1
        target = (site / unquote(url.path).lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if site not in target.parents and target != site:
            result.broken_links.append(f"{href}: outside the site")
            continue
        if not target.is_file():
            result.broken_links.append(f"{href}: no such file {target.relative_to(site).as_posix()}")
            continue
        fragment = unquote(url.fragment)
        if not fragment or fragment == "top" or target.suffix != ".html":
            continue
        rel = target.relative_to(site).as_posix()
        anchors = seen[rel].anchors if rel in seen else _static_anchors(target)
        if fragment not in anchors:
            result.broken_links.append(f"{href}: no id or name {fragment!r} on {rel}")


def screenshot(driver: WebDriver, base: str, page: str, out: Path, width: int = WINDOW[0]) -> Path:
    """A full-page PNG of ``page`` at ``width``: the window is made as tall as the document and the viewport
    photographed as it is laid out. (Capturing beyond the viewport instead, by CDP's device-metrics override or
    ``captureBeyondViewport``, drew the overview page shifted to the left, cut off, while the page itself was
    laid out correctly at every window height tried.)"""
    driver.set_window_size(width, WINDOW[1])
    driver.get(base + page)
    time.sleep(0.3)
    height = int(driver.execute_script(
        "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)"
    ))
    frame = int(driver.execute_script("return window.outerHeight - window.innerHeight"))
    driver.set_window_size(width, min(height, MAX_SCREENSHOT_HEIGHT) + frame)
    time.sleep(0.6)  # the theme re-lays out after a resize
    png = driver.get_screenshot_as_png()
    driver.set_window_size(*WINDOW)
    out.mkdir(parents=True, exist_ok=True)
    path = out / (page.replace("/", "__").removesuffix(".html") + f"_{width}px.png")
    path.write_bytes(png)
    return path


def screenshot_pages(pages: list[str]) -> list[str]:
    """The overview and one site page (Lancashire crisis demand when present, else the first site page)."""
    chosen = [p for p in ("index.html",) if p in pages]
    site_pages = [p for p in pages if p.startswith("_generated/sites/") and not p.endswith("/index.html")]
    if SCREENSHOT_PAGE in pages:
        chosen.append(SCREENSHOT_PAGE)
    elif site_pages:
        chosen.append(site_pages[0])
    return chosen


def _check_pages(
    base: str,
    pages: list[str],
    axe_source: str,
    modes: tuple[str, ...],
    viewports: tuple[tuple[int, int], ...],
    drivers: int,
) -> tuple[list[PageResult], dict[str, _Visit]]:
    """Visit ``pages`` with ``drivers`` Chromium instances side by side (each its own profile and process),
    each taking the next unchecked page; return the results in page order and what each visit saw."""
    todo = deque(pages)  # popleft is atomic: two threads never take the same page
    done: dict[str, tuple[PageResult, _Visit | None]] = {}

    def work() -> None:
        with chromium() as driver:
            while True:
                try:
                    page = todo.popleft()
                except IndexError:
                    return
                try:
                    done[page] = _visit(driver, base, page, axe_source, modes, viewports)
                except Exception as exc:  # one broken page must not hide the others
                    done[page] = (PageResult(page, error=f"{type(exc).__name__}: {exc}".splitlines()[0]), None)

    browsers = max(1, drivers)
    with ThreadPoolExecutor(max_workers=browsers, thread_name_prefix="chromium") as pool:
        for future in [pool.submit(work) for _ in range(browsers)]:
            future.result()  # a driver that could not start is an error, not a silently skipped half
    missing = [p for p in pages if p not in done]
    if missing:
        raise RuntimeError(f"{len(missing)} page(s) were never checked, e.g. {missing[0]}")
    results = [done[p][0] for p in pages]
    seen = {p: visit for p in pages if (visit := done[p][1]) is not None}
    return results, seen


def check_site(
    site: Path,
    axe_js: Path,
    screenshots: Path | None = None,
    skip: tuple[str, ...] = (),
    modes: tuple[str, ...] = MODES,
    viewports: tuple[tuple[int, int], ...] = VIEWPORTS,
    log: Any = print,
    drivers: int = DRIVERS,
) -> list[PageResult]:
    """Check every page of ``site`` with ``drivers`` browsers side by side; return one result per page, in
    page order (screenshots saved when a folder is given)."""
    site = Path(site)
    axe_source = Path(axe_js).read_text(encoding="utf-8")
    pages = find_pages(site, skip)
    if not pages:
        raise FileNotFoundError(f"no HTML pages under {site}")
    with serve(site) as base:
        results, seen = _check_pages(base, pages, axe_source, modes, viewports, drivers)
        for result in results:
            if result.page in seen:
                _resolve_links(site, base, result, seen[result.page], seen)
        if screenshots is not None:
            with chromium() as driver:
                for page in screenshot_pages(pages):
                    for width in SCREENSHOT_WIDTHS:
                        log(f"screenshot: {screenshot(driver, base, page, Path(screenshots), width)}")
    return results


def report(results: list[PageResult], log: Any = print, warnings: bool = True) -> str:
    """Print the per-page summary, the external links and the final ``N passed, M failed`` line."""
    for r in results:
        log(r.summary())
        for problem in r.problems():
            log(f"    {problem}")
        if warnings:
            for v in r.axe_warnings:
                log(f"    (warning) {v.line()}")
    external = sorted({u for r in results for u in r.external_links})
    log(f"external links (listed, not fetched): {len(external)}")
    for url in external:
        log(f"    {url}")
    passed = sum(r.passed for r in results)
    final = f"{passed} passed, {len(results) - passed} failed"
    log(final)
    return final


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def parse_viewports(text: str) -> tuple[tuple[int, int], ...]:
    """``"1366x900,390x844"`` -> ``((1366, 900), (390, 844))``."""
    out = []
    for item in parse_list(text):
        width, _, height = item.lower().partition("x")
        out.append((int(width), int(height or 900)))
    return tuple(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", required=True, type=Path, help="built HTML folder (docs/_build/html)")
    ap.add_argument("--axe", type=Path, help="axe.min.js (default: install the pinned axe-core into build/browser)")
    ap.add_argument("--screenshots", type=Path, help="folder for full-page screenshots")
    ap.add_argument("--skip", action="append", default=[], help="page to skip (relative path); repeatable")
    ap.add_argument("--modes", default=",".join(MODES), help="colour schemes for axe (default: %(default)s)")
    ap.add_argument(
        "--viewports",
        default=",".join(f"{w}x{h}" for w, h in VIEWPORTS),
        help="window sizes for axe, WIDTHxHEIGHT,... (default: %(default)s)",
    )
    ap.add_argument("--drivers", type=int, default=DRIVERS,
                    help="browsers checking pages side by side (default: %(default)s)")
    ap.add_argument("--json", type=Path, help="also write the full results as JSON here")
    ap.add_argument("--no-warnings", action="store_true", help="do not print minor/moderate axe findings")
    args = ap.parse_args(argv)
    if not args.site.is_dir():
        ap.error(f"--site {args.site} is not a folder")
    axe_js = args.axe or ensure_axe()
    modes = parse_list(args.modes)
    viewports = parse_viewports(args.viewports)
    results = check_site(args.site, axe_js, args.screenshots, tuple(args.skip), modes, viewports,
                         drivers=args.drivers)
    report(results, warnings=not args.no_warnings)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) | {"passed": r.passed} for r in results], indent=1))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
