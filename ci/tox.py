"""Run tox without installing anything by hand: `python3 -m ci.tox -e suite`.

A bare machine has Python and pip but no tox. The first run creates a private virtualenv
(.venv/tox, gitignored) holding the pinned tox, then every run hands its arguments to it; with
tox already on PATH, `tox -e suite` does the same thing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOX = "tox==4.67.15"
HOME = ROOT / ".venv" / "tox"


def tox_python() -> Path:
    python = HOME / "bin" / "python"
    if not python.exists():
        print(f"ci.tox: creating {HOME.relative_to(ROOT)} with {TOX}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(HOME)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", TOX], check=True)
    return python


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    return subprocess.run([str(tox_python()), "-m", "tox", *argv]).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
