"""Checks of a report page: static self-containedness, and rendering in headless Chromium."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--enable-logging=stderr", "--v=0"]
PNG_PREFIX = "data:image/png;base64,"
# Runs before the page's own Content-Security-Policy meta, so the page's policy still applies to
# everything the page loads; records load errors, policy violations and console errors, and on
# `load` writes what it found, plus every image's decoded size, into the DOM.
CHECK_SCRIPT = """<script>(function(){
var errors=[];
window.addEventListener('error',function(e){errors.push('error: '+(e.message||
  (e.target&&(e.target.src||e.target.href))||'?'));},true);
document.addEventListener('securitypolicyviolation',function(e){
  errors.push('csp: '+e.violatedDirective+' '+e.blockedURI);});
var ce=console.error;console.error=function(){
  errors.push('console.error: '+[].join.call(arguments,' '));ce.apply(console,arguments);};
window.addEventListener('load',function(){
  var imgs=[].slice.call(document.images);
  var broken=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0);})
    .map(function(i){return i.alt||i.src.slice(0,40);});
  var p=document.createElement('pre');p.id='report-check';
  p.textContent=JSON.stringify({images:imgs.length,broken:broken,errors:errors});
  document.body.appendChild(p);});
})();</script>"""


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def static_problems(text: str) -> tuple[list[str], list[Image.Image]]:
    """Everything that would make the page depend on something outside it, and its images.

    Returns:
        (problems, decoded images): a problem is a script, link, frame, object, external URL or
        CSS import; every ``<img>`` must be a PNG data URI that Pillow decodes.
    """
    p = _Collector()
    p.feed(text)
    problems, images = [], []
    ids = {a["id"] for _, a in p.tags if "id" in a}
    for tag, attrs in p.tags:
        if tag in ("script", "link", "iframe", "frame", "object", "embed", "base", "audio",
                   "video", "source"):
            problems.append(f"<{tag}> element")
        for name in ("src", "href", "srcset", "poster", "data", "action"):
            value = attrs.get(name)
            if value is None:
                continue
            if tag == "img" and name == "src":
                if not value.startswith(PNG_PREFIX):
                    problems.append(f"<img src> is not a PNG data URI: {value[:60]}")
                    continue
                try:
                    im = Image.open(io.BytesIO(base64.b64decode(value[len(PNG_PREFIX):],
                                                                validate=True)))
                    im.load()
                except Exception as exc:  # noqa: BLE001 - any decoding failure is the finding
                    problems.append(f"<img> does not decode: {exc}")
                    continue
                if im.format != "PNG":
                    problems.append(f"<img> is {im.format}, not PNG")
                images.append(im)
            elif name == "href" and value.startswith("#"):
                if value[1:] not in ids:
                    problems.append(f"anchor {value} has no target")
            elif re.match(r"^\s*([a-z][a-z0-9+.-]*:|//)", value, re.I):
                problems.append(f"{tag} {name} points outside: {value[:60]}")
    css = " ".join(p.styles) + " ".join(a.get("style", "") for _, a in p.tags)
    if re.search(r"@import|url\(", css, re.I):
        problems.append("CSS loads something (@import or url())")
    if re.search(r"https?://|ftp://", text):
        problems.append("an absolute URL appears in the page")
    return problems, images


def render(page: Path, chromium: str, timeout: float = 60.0) -> tuple[dict, list[str]]:
    """Load ``page`` (with the check script added) in headless Chromium.

    Returns:
        (the check result: ``images``, ``broken``, ``errors``; the browser's console lines).
    """
    text = page.read_text(encoding="utf-8")
    head = text.index("<head>") + len("<head>")
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "page.html"
        probe.write_text(text[:head] + CHECK_SCRIPT + text[head:], encoding="utf-8")
        proc = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile",
             "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
            capture_output=True, text=True, timeout=timeout, check=False)
    found = re.search(r'<pre id="report-check">(.*?)</pre>', proc.stdout, re.S)
    if found is None:
        raise AssertionError(f"the page did not finish loading (rc {proc.returncode}): "
                             f"{proc.stderr[-2000:]}")
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    return json.loads(html.unescape(found.group(1))), console
