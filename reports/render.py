"""Render Allure results to one self-contained HTML page, offline, with history between runs.

    python -m reports.render ALLURE_RESULTS --output DIR [--history FILE] [--name NAME]

The renderer is Allure 3 (the npm package `allure`, pinned in reports/renderer/package-lock.json)
with its Allure 2-style ("classic") plugin in single-file mode: the page embeds its scripts,
styles and data, loads nothing from the network and carries no analytics (ALLURE_NO_ANALYTICS;
the newer "awesome" plugin hard-codes analytics, so it is not used). History: Allure 3 appends
each run to a JSON-lines file (`--history`) and reads it back for trends, new and fixed
failures; keep that file between nightly runs (a CI cache), never in git.

If the renderer is not installed yet it is installed once with `npm ci` from the lock file.

The page embeds every data file of the report (each test's page, the suites, behaviors,
packages and timeline trees, the widgets) in base64, about 7.5 KB per test of which a tenth is
what the test says and the rest the renderer's own structure, repeated per test in eight files.
Once rendered, those data files are packed into one gzip stream in the page (`pack_page_data`),
which the page unpacks when it opens (DecompressionStream: Chrome and Edge 80, Firefox 113,
Safari 16.4 or newer): the same data, about a tenth of the bytes.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from filelock import FileLock

RENDERER = Path(__file__).with_name("renderer")
CLI = RENDERER / "node_modules" / "allure" / "cli.js"
DEFAULT_NAME = "aclnnAlltoAllvGroupedMatMul conformance"
HISTORY_LIMIT = 60  # runs kept in the history file
TIMEOUT = 900
INSTALL_RETRY_WAITS = (15, 60)  # seconds between `npm ci` attempts: registries fail transiently
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


class RenderError(RuntimeError):
    """The report could not be rendered; the message says why and what to do."""


class InputError(RenderError):
    """Bad input (a missing or wrong folder): the caller's mistake, exit status 2."""


def ensure_renderer() -> Path:
    """The Allure CLI's path, installing reports/renderer with `npm ci` if it is missing."""
    if shutil.which("node") is None:
        raise RenderError("node is not on PATH; the HTML report needs Node.js 20 or newer")
    if CLI.exists():
        return CLI
    npm = shutil.which("npm")
    if npm is None:
        raise RenderError(f"{CLI} is missing and npm is not on PATH to install it "
                          f"(npm ci --prefix {RENDERER})")
    key = hashlib.sha256(str(RENDERER).encode()).hexdigest()[:12]
    lock = Path(tempfile.gettempdir()) / f"allure-renderer-{key}.lock"
    with FileLock(str(lock)):  # parallel runs install it once
        for wait in (*INSTALL_RETRY_WAITS, None):
            if CLI.exists():
                break
            proc = subprocess.run([npm, "ci", "--prefix", str(RENDERER), "--no-audit",
                                   "--no-fund", "--loglevel=error"], capture_output=True,
                                  text=True, timeout=TIMEOUT, check=False, env=_npm_env())
            if proc.returncode == 0 and CLI.exists():
                break
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            if wait is None:
                raise RenderError(f"npm ci --prefix {RENDERER} failed "
                                  f"{len(INSTALL_RETRY_WAITS) + 1} times: {' | '.join(tail)}")
            print(f"npm ci failed ({' | '.join(tail[-1:])}); retrying in {wait} s",
                  file=sys.stderr)
            time.sleep(wait)
    return CLI


def _npm_env() -> dict[str, str]:
    """The environment for npm, with the system's CA bundle added to Node's own store.

    A registry reached through a TLS-inspecting proxy answers with a certificate Node's bundled
    store rejects (SELF_SIGNED_CERT_IN_CHAIN); the system bundle carries the proxy's CA, and a
    test runner such as tox may have dropped the variable that pointed Node at it.
    """
    env = dict(os.environ)
    if not env.get("NODE_EXTRA_CA_CERTS"):
        bundle = env.get("SSL_CERT_FILE") or SYSTEM_CA_BUNDLE
        if Path(bundle).is_file():
            env["NODE_EXTRA_CA_CERTS"] = bundle
    return env


def _is_report(folder: Path) -> bool:
    index = folder / "index.html"
    if not index.exists():
        return False
    with index.open(encoding="utf-8", errors="replace") as f:
        return "allure-report-uuid" in f.read(4096)


def render(results: Path, output: Path, history: Path | None = None,
           name: str = DEFAULT_NAME) -> Path:
    """Render `results` into `output`/index.html; returns the page's path."""
    results, output = Path(results).resolve(), Path(output).resolve()
    if not results.is_dir():
        raise InputError(f"{results}: no such folder; expected Allure results (pytest "
                          "--alluredir)")
    if not any(results.glob("*-result.json")):
        raise InputError(f"{results}: no *-result.json files; expected Allure results "
                          "(pytest --alluredir)")
    if output.exists():
        if not (_is_report(output) or not any(output.iterdir())):
            raise InputError(f"{output}: exists and is not an Allure report; choose an empty "
                              "or new folder")
        shutil.rmtree(output)
    cli = ensure_renderer()
    config: dict = {
        "name": name,
        "output": str(output),
        "plugins": {"allure2": {"options": {"singleFile": True, "reportName": name,
                                            "reportLanguage": "en"}}},
    }
    if history is not None:
        history = Path(history).resolve()
        history.parent.mkdir(parents=True, exist_ok=True)
        config["historyPath"] = str(history)
        config["historyLimit"] = HISTORY_LIMIT
    env = {**os.environ, "ALLURE_NO_ANALYTICS": "true", "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory(prefix="allure-render-") as tmp:
        cfg = Path(tmp) / "allurerc.json"
        cfg.write_text(json.dumps(config, indent=1), encoding="utf-8")
        proc = subprocess.run(["node", str(cli), "generate", str(results), "--config", str(cfg),
                               "--output", str(output)], cwd=tmp, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT, check=False)
    page = output / "index.html"
    if proc.returncode != 0 or not page.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RenderError(f"allure generate failed (exit {proc.returncode}): {' | '.join(tail)}")
    pack_page_data(page)
    return page


# The renderer's (allure 3.18, plugin allure2) data script of a single-file page: every file
# `d("name","base64")` in one Promise.allSettled, then `window.reportDataReady = true`.
_DATA_START = "<script>\n      Promise.allSettled(["
_DATA_END = ']).then(function () {\n        window.reportDataReady = true;\n      });\n    </script>'
_ENTRY = re.compile(r'd\(("(?:[^"\\]|\\.)*"),"([A-Za-z0-9+/=]*)"\)')
_PACKED = re.compile(r'window\.__packedReportData = \{"index": (\[.*?\]), "gzip": "([A-Za-z0-9+/=]*)"\}',
                     re.S)
# Unpacks the files into window.reportData as the page reads them (base64 each), then says the
# data are ready; a browser without DecompressionStream gets one line in the page's alert box.
_UNPACK = """<script>
      window.__packedReportData = {"index": %s, "gzip": "%s"};
      (function (packed) {
        function fail(why) {
          document.getElementById("alert").textContent = "This report could not be opened: "
            + why + " (it needs Chrome or Edge 80, Firefox 113, Safari 16.4 or newer).";
        }
        if (typeof DecompressionStream !== "function") {
          fail("this browser has no DecompressionStream");
          return;
        }
        var text = atob(packed.gzip), bytes = new Uint8Array(text.length);
        for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
        var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
        new Response(stream).arrayBuffer().then(function (buffer) {
          var data = new Uint8Array(buffer), at = 0;
          packed.index.forEach(function (entry) {
            var part = data.subarray(at, at + entry[1]), chunks = [];
            at += entry[1];
            for (var j = 0; j < part.length; j += 32768) {
              chunks.push(String.fromCharCode.apply(null, part.subarray(j, j + 32768)));
            }
            window.reportData[entry[0]] = btoa(chunks.join(""));
          });
          window.reportDataReady = true;
        }, function (err) { fail(String(err)); });
      })(window.__packedReportData);
    </script>"""


def pack_page_data(page: Path) -> bool:
    """Replace the page's base64 data files by one gzip stream the page unpacks on opening.

    Returns False (the page left as rendered) when the page is not laid out as the pinned
    renderer writes it, so a renderer upgrade can cost bytes but never a report.
    """
    text = page.read_text(encoding="utf-8")
    start = text.find(_DATA_START)
    end = text.find(_DATA_END, start)
    if start < 0 or end < 0:
        return False
    body = text[start + len(_DATA_START):end]
    index, parts, at = [], [], 0
    for m in _ENTRY.finditer(body):
        if m.start() != at + (1 if index else 0) or (index and body[at] != ","):
            return False  # something between the entries this parser does not know
        parts.append(base64.b64decode(m.group(2)))
        index.append([json.loads(m.group(1)), len(parts[-1])])
        at = m.end()
    if at != len(body) or not index:
        return False
    blob = base64.b64encode(gzip.compress(b"".join(parts), 9, mtime=0)).decode("ascii")
    names = json.dumps(index, ensure_ascii=True).replace("</", "<\\/")
    page.write_text(text[:start] + _UNPACK % (names, blob) + text[end + len(_DATA_END):],
                    encoding="utf-8")
    return True


def embedded_files(page: Path) -> dict[str, bytes]:
    """The data files a single-file page embeds (name -> content), packed or as rendered."""
    text = Path(page).read_text(encoding="utf-8")
    packed = _PACKED.search(text)
    if packed is None:
        return {json.loads(m.group(1)): base64.b64decode(m.group(2))
                for m in _ENTRY.finditer(text)}
    data, files, at = gzip.decompress(base64.b64decode(packed.group(2))), {}, 0
    for name, size in json.loads(packed.group(1)):
        files[name] = data[at:at + size]
        at += size
    return files


class _Parser(argparse.ArgumentParser):
    """Exit status: 0 rendered, 2 bad input, 3 the renderer failed."""

    def error(self, message: str) -> None:  # one line, exit status 2
        print(f"reports.render: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m reports.render", description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="Allure results folder (pytest --alluredir)")
    parser.add_argument("--output", type=Path, required=True, help="folder for index.html")
    parser.add_argument("--history", type=Path, default=None,
                        help="history file (JSON lines) to read and extend")
    parser.add_argument("--name", default=DEFAULT_NAME, help="the report's title")
    args = parser.parse_args(argv)
    try:
        page = render(args.results, args.output, args.history, args.name)
    except RenderError as err:
        print(f"reports.render: {err}", file=sys.stderr)
        return 2 if isinstance(err, InputError) else 3
    print(f"report: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
