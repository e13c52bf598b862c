"""Installing the HTML renderer survives a registry that fails now and then, and says so when
it never answers; npm is handed the system's CA bundle even where tox dropped the variable."""

from __future__ import annotations

import subprocess

import pytest

from reports import render


@pytest.fixture
def fake_npm(monkeypatch, tmp_path):
    """`npm ci` replaced by a recorder that fails a set number of times, then installs the CLI."""
    cli = tmp_path / "renderer" / "node_modules" / "allure" / "cli.js"
    monkeypatch.setattr(render, "RENDERER", tmp_path / "renderer")
    monkeypatch.setattr(render, "CLI", cli)
    monkeypatch.setattr(render, "INSTALL_RETRY_WAITS", (0, 0))
    monkeypatch.setattr(render.shutil, "which", lambda name: f"/usr/bin/{name}")
    calls: list[dict[str, str]] = []
    state = {"failures": 0}

    def run(argv, **kwargs):
        assert argv[1:4] == ["ci", "--prefix", str(tmp_path / "renderer")]
        calls.append(kwargs["env"])
        if len(calls) <= state["failures"]:
            return subprocess.CompletedProcess(
                argv, 1, "", "npm error errno SELF_SIGNED_CERT_IN_CHAIN\nnpm error request failed")
        cli.parent.mkdir(parents=True)
        cli.write_text("")
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(render.subprocess, "run", run)
    return state, calls


def test_a_transient_registry_failure_is_retried(fake_npm):
    state, calls = fake_npm
    state["failures"] = 2
    assert render.ensure_renderer() == render.CLI
    assert len(calls) == 3


def test_a_registry_that_never_answers_gives_one_clear_error(fake_npm):
    state, calls = fake_npm
    state["failures"] = 99
    with pytest.raises(render.RenderError, match=r"npm ci --prefix .* failed 3 times: .*request"):
        render.ensure_renderer()
    assert len(calls) == 3


def test_an_installed_renderer_is_not_installed_again(fake_npm):
    _, calls = fake_npm
    render.ensure_renderer()
    render.ensure_renderer()
    assert len(calls) == 1


def test_npm_gets_the_system_ca_bundle_when_no_variable_names_one(fake_npm, monkeypatch,
                                                                  tmp_path):
    bundle = tmp_path / "ca.crt"
    bundle.write_text("")
    monkeypatch.delenv("NODE_EXTRA_CA_CERTS", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    _, calls = fake_npm
    render.ensure_renderer()
    assert calls[0]["NODE_EXTRA_CA_CERTS"] == str(bundle)


def test_a_ca_bundle_the_caller_chose_is_kept(fake_npm, monkeypatch):
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", "/chosen/by/caller.pem")
    _, calls = fake_npm
    render.ensure_renderer()
    assert calls[0]["NODE_EXTRA_CA_CERTS"] == "/chosen/by/caller.pem"

