"""``nodes.<name>.tls`` in ``homecrew.yaml``: what is accepted, and errors that name the key
and the file (the connection behaviour is in ``test_native_http.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from homecrew.settings import Settings, load_settings
from inference.errors import ConfigError
from tests.support.tls import Certificate

CONFIG = """
nodes:
  box: {kind: openai, base_url: "https://box.lan:8443/v1", NODE_EXTRA}
  claude: {kind: anthropic, api_key: sk-ant-x}
models:
  local: {node: box, model: qwen}
routes:
  r: [local]
"""


def load(tmp_path: Path, extra: str) -> Settings:
    path = tmp_path / "homecrew.yaml"
    path.write_text(CONFIG.replace("NODE_EXTRA", extra))
    return load_settings(path, environ={})


def test_no_tls_section_is_the_default(tmp_path: Path) -> None:
    settings = load(tmp_path, "probe: true")
    assert settings.nodes["box"].tls is None


def test_a_ca_file_and_verify(tmp_path: Path, certificate: Certificate) -> None:
    settings = load(tmp_path, f'tls: {{ca_file: "{certificate.cert}", verify: true}}')
    tls = settings.nodes["box"].tls
    assert tls is not None and (tls.ca_file, tls.verify) == (certificate.cert, True)
    unchecked = load(tmp_path, "tls: {verify: false}").nodes["box"].tls
    assert unchecked is not None and unchecked.verify is False


@pytest.mark.parametrize(("extra", "expected"), [
    ('tls: {ca_file: "/no/such/ca.pem"}',
     "nodes.box.tls.ca_file: no such file: '/no/such/ca.pem'"),
    ("tls: {ca_file: NOT_PEM}", "not a readable PEM certificate file"),
    ("tls: {verify: maybe}", "nodes.box.tls.verify: Input should be a valid boolean"),
    ("tls: {ca: x}", "nodes.box.tls.ca: unknown key"),
])
def test_errors_name_the_key_and_the_file(tmp_path: Path, extra: str, expected: str) -> None:
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("just some text\n")
    path = tmp_path / "homecrew.yaml"
    path.write_text(CONFIG.replace("NODE_EXTRA", extra.replace("NOT_PEM", str(not_pem))))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)
    if "NOT_PEM" in extra:
        assert "nodes.box.tls.ca_file" in str(caught.value) and str(not_pem) in str(caught.value)


def test_tls_on_a_node_litellm_speaks_to_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "homecrew.yaml"
    path.write_text(CONFIG.replace("NODE_EXTRA", "probe: true").replace(
        "api_key: sk-ant-x}", "api_key: sk-ant-x, tls: {verify: false}}"))
    with pytest.raises(ConfigError, match=r"nodes\.claude: .*tls applies to nodes spoken to "
                                          r"natively"):
        load_settings(path, environ={})
