"""
Plugins: discovery through entry points, errors, the kill switch, the example package.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from socialplug import plugins
from socialplug.exceptions import PluginError, PluginNotFoundError
from socialplug.model import Delivery, Post
from socialplug.sinks import JSONLSink
from socialplug.state import SQLiteStateStore


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_index(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SOCIALPLUG_DISABLE_PLUGINS", raising=False)
    plugins.refresh()
    yield
    plugins.refresh()


def test_pyproject_registers_every_builtin():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    registered = project["entry-points"]
    for kind in plugins.KINDS:
        expected = dict(plugins.BUILTINS[kind])
        assert registered.get(plugins.group_of(kind), {}) == expected, kind


@pytest.mark.parametrize("kind", plugins.KINDS)
def test_every_builtin_loads(kind):
    for name in plugins.BUILTINS[kind]:
        assert callable(plugins.load(kind, name))


def test_load_returns_the_registered_factory():
    assert plugins.load("sinks", "jsonl") is JSONLSink
    assert plugins.load("state", "sqlite") is SQLiteStateStore
    assert "mastodon" in plugins.names("sources")


def test_unknown_name_lists_what_is_installed():
    with pytest.raises(PluginNotFoundError) as info:
        plugins.load("sinks", "jsonlines")
    message = str(info.value)
    assert "'jsonlines'" in message
    assert "jsonl" in message
    assert "console" in message
    assert isinstance(info.value, LookupError)


def test_unknown_kind_is_a_plugin_error():
    with pytest.raises(PluginError, match="unknown component kind 'sink'"):
        plugins.names("sink")  # type: ignore[arg-type]


def test_ambiguous_name_names_both_distributions(monkeypatch):
    # Simulate a second distribution registering the same name with a different object.
    fake = plugins.Plugin(kind="sinks", name="jsonl", value="other_pkg:Sink", distribution="x")
    real = plugins.describe("sinks", "jsonl")
    monkeypatch.setattr(plugins, "_lookup", lambda kind: {"jsonl": (real, fake)})
    with pytest.raises(PluginError, match="several distributions") as info:
        plugins.load("sinks", "jsonl")
    assert "socialplug" in str(info.value)
    assert "x (other_pkg:Sink)" in str(info.value)


def test_import_failure_and_not_callable(monkeypatch):
    broken = plugins.Plugin(kind="sinks", name="b", value="no_such_mod_xyz:S", distribution="d")
    constant = plugins.Plugin(
        kind="sinks", name="c", value="socialplug.plugins:DISABLE_ENV", distribution="d"
    )
    monkeypatch.setattr(plugins, "_lookup", lambda kind: {"b": (broken,), "c": (constant,)})
    with pytest.raises(PluginError, match=r"importing sinks plugin 'b'.*ModuleNotFoundError"):
        plugins.load("sinks", "b")
    with pytest.raises(PluginError, match="not callable"):
        plugins.load("sinks", "c")


def test_build_checks_the_shape(tmp_path):
    sink = plugins.build("sinks", "jsonl", path=tmp_path / "out.jsonl")
    assert isinstance(sink, JSONLSink)


def test_build_rejects_what_is_not_a_component(monkeypatch):
    wrong = plugins.Plugin(
        kind="sinks", name="w", value="socialplug.model:Author", distribution="d"
    )
    monkeypatch.setattr(plugins, "_lookup", lambda kind: {"w": (wrong,)})
    with pytest.raises(PluginError, match="sinks plugin 'w' built a Author, which has no deliver"):
        plugins.build("sinks", "w")


def test_example_plugin_is_discovered_and_works(example_plugin, tmp_path):
    import anyio

    assert "example_canned" in plugins.names("sources")
    assert "example_textfile" in plugins.names("sinks")
    described = plugins.describe("sources", "example_canned")
    assert described.distribution == example_plugin
    assert not described.builtin

    source = plugins.build("sources", "example_canned", texts=["one", "two"], name="c")
    sink = plugins.build("sinks", "example_textfile", path=tmp_path / "notes.txt")

    async def run():
        pages = [p async for p in source.pages(None, follow=False)]
        posts = [post for page in pages for post in page.posts]
        assert all(isinstance(p, Post) for p in posts)
        await sink.deliver([Delivery(item=p, route="r", sink="s", key=p.key) for p in posts])

    anyio.run(run)
    lines = (tmp_path / "notes.txt").read_text().splitlines()
    assert [line.split("\t")[2] for line in lines] == ["one", "two"]


def test_kill_switch_hides_third_party_but_keeps_builtins(example_plugin, monkeypatch):
    assert "example_canned" in plugins.names("sources")
    monkeypatch.setenv("SOCIALPLUG_DISABLE_PLUGINS", "1")
    assert "example_canned" not in plugins.names("sources")
    assert "mastodon" in plugins.names("sources")
    with pytest.raises(PluginNotFoundError):
        plugins.load("sources", "example_canned")
