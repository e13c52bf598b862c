"""Render Allure results to one self-contained HTML page, offline, with history between runs.

    python -m reports.render ALLURE_RESULTS --output DIR [--history FILE] [--name NAME]

The renderer is Allure 3 (the npm package `allure`, pinned in reports/renderer/package-lock.json)
with its Allure 2-style ("classic") plugin in single-file mode: the page embeds its scripts,
styles and data, loads nothing from the network and carries no analytics (ALLURE_NO_ANALYTICS;
the newer "awesome" plugin hard-codes analytics, so it is not used). History: Allure 3 appends
each run to a JSON-lines file (`--history`) and reads it back for trends, new and fixed
failures; keep that file between nightly runs (a CI cache), never in git.

If the renderer is not installed yet it is installed once with `npm ci` from the lock file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
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
    return page


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
