"""Trimming Allure results: a fixture container that says nothing goes, one that says
something (a failure, an attachment, a step) stays."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from reports.trim import pack, prune_containers


def _write(folder: Path, name: str, befores: list[dict], afters: list[dict]) -> Path:
    path = folder / f"{name}-container.json"
    path.write_text(json.dumps({"uuid": name, "children": ["r"], "befores": befores,
                                "afters": afters}), encoding="utf-8")
    return path


def test_quiet_containers_go_and_telling_ones_stay(tmp_path: Path) -> None:
    quiet = _write(tmp_path, "quiet", [{"name": "cell", "status": "passed"}],
                   [{"name": "cell::<lambda>"}])
    broken = _write(tmp_path, "broken", [{"name": "backend", "status": "broken",
                                          "statusDetails": {"message": "no device"}}], [])
    attached = _write(tmp_path, "attached", [{"name": "world", "status": "passed",
                                              "attachments": [{"name": "log"}]}], [])
    stepped = _write(tmp_path, "stepped", [], [{"name": "teardown", "status": "passed",
                                                "steps": [{"name": "release"}]}])
    failed_after = _write(tmp_path, "failed_after", [], [{"name": "t", "status": "failed"}])
    result = tmp_path / "r-result.json"
    result.write_text("{}", encoding="utf-8")
    assert prune_containers(tmp_path) == 1
    assert not quiet.exists()
    assert all(p.exists() for p in (broken, attached, stepped, failed_after, result))


def test_pack_replaces_the_folder_by_one_zip_of_its_files(tmp_path: Path) -> None:
    results = tmp_path / "allure-results"
    results.mkdir()
    files = {"a-result.json": '{"status": "passed"}', "b-attachment.txt": "python -m ci.replay"}
    for name, text in files.items():
        (results / name).write_text(text, encoding="utf-8")
    archive = pack(results)
    assert archive == tmp_path / "allure-results.zip" and not results.exists()
    with zipfile.ZipFile(archive) as z:
        assert {n: z.read(n).decode() for n in z.namelist()} == files
    assert [p.name for p in tmp_path.iterdir()] == ["allure-results.zip"]
