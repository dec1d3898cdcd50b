"""
Pipeline files: building by plugin name, interpolation, secrets, and validation that reports
every problem with its line and a suggestion.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from socialplug import config
from socialplug._tomlmap import TomlMap
from socialplug.sinks import JSONLSink
from socialplug.state import SQLiteStateStore


HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "config"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in ("good.toml", "posts.jsonl"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path


def test_good_file_builds_and_runs(workdir, monkeypatch):
    monkeypatch.chdir(workdir)  # relative paths are relative to the working directory
    loaded = config.load(workdir / "good.toml", env={"STATE_DIR": str(workdir)})
    pipeline = loaded.pipeline
    assert pipeline.name == "rail-monitor"
    assert isinstance(pipeline.state, SQLiteStateStore)
    assert isinstance(pipeline.sinks["support"], JSONLSink)
    assert pipeline.policy("support").batch_size == 10
    assert pipeline.policy("support").batch_wait == pytest.approx(0.2)
    assert pipeline.policy("support").retry.attempts == 3
    (monitor,) = pipeline.detectors
    assert monitor.spikes[0].window == timedelta(minutes=10)
    assert monitor.router is pipeline.router
    assert "route support [P2 team=support]" in loaded.graph
    assert loaded.monitors == ("monitor",)

    report = anyio.run(pipeline.run_once)
    assert report.read == 30
    assert report.delivered == {"support": 30, "management": 30}
    lines = (workdir / "support.jsonl").read_text().splitlines()
    assert len(lines) == 30
    assert json.loads(lines[0])["route"] == "support"


def test_five_mistakes_are_all_reported_with_lines_and_suggestions():
    path = FIXTURES / "five_mistakes.toml"
    with pytest.raises(config.ConfigError) as info:
        config.load(path, env={})
    found = info.value.found
    assert len(found) == 5, str(info.value)
    text = path.read_text().splitlines()
    by_number = {}
    for number, line in enumerate(text, start=1):
        if "# " in line and ":" in line.split("# ", 1)[1]:
            by_number[line.split("# ", 1)[1].split(":")[0]] = number
    expected = {
        "1": ("sources[0].type", "'jsonl'"),
        "2": ("routes[0].sinks[0]", "'support'"),
        "3": ("sinks.support.pth", "'path'"),
        "4": ("detectors[0].spikes", "'window'"),
        "5": ("polices", "'policies'"),
    }
    for number, (key, suggestion) in expected.items():
        (problem,) = [p for p in found if p.key == key]
        assert problem.line == by_number[number], problem
        assert f"did you mean {suggestion}?" in problem.message
        assert problem.file == str(path)
        assert f"{path}:{problem.line}: {key}:" in str(info.value)


def test_env_interpolation_defaults_and_escapes(tmp_path):
    (tmp_path / "p.toml").write_text(
        """
[pipeline]
name = "${NAME:-fallback}-$${literal}"
[[sources]]
type = "jsonl"
path = "${DIR}/in.jsonl"
[sinks.out]
type = "jsonl"
path = "${DIR}/out.jsonl"
"""
    )
    loaded = config.load(tmp_path / "p.toml", env={"DIR": str(tmp_path)})
    assert loaded.pipeline.name == "fallback-${literal}"
    assert loaded.pipeline.sinks["out"].path == tmp_path / "out.jsonl"


def test_file_secrets_and_redaction(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-value-42\n")
    (tmp_path / "p.toml").write_text(
        f"""
[pipeline]
name = "${{file:{secret}}}"
[[sources]]
type = "jsonl"
path = {{ file = "{secret}" }}
[sinks.out]
type = "jsonl"
path = "out.jsonl"
[[detectors]]
type = "monitor"
spikes = [{{ window = "${{TOKEN}}" }}]
"""
    )
    with pytest.raises(config.ConfigError) as info:
        config.load(tmp_path / "p.toml", env={"TOKEN": "hunter2-very-secret"})
    message = str(info.value)
    assert "hunter2-very-secret" not in message
    assert "***" in message
    assert "detectors[0].spikes" in message
    # Without the bad detector, both file forms resolve.
    text = (tmp_path / "p.toml").read_text().split("[[detectors]]")[0]
    (tmp_path / "p.toml").write_text(text)
    loaded = config.load(tmp_path / "p.toml", env={})
    assert loaded.pipeline.name == "s3cr3t-value-42"
    assert str(loaded.pipeline.sources[0].path).endswith("s3cr3t-value-42")


def test_missing_env_and_secret_file_are_reported_with_lines(tmp_path):
    (tmp_path / "p.toml").write_text(
        """[[sources]]
type = "jsonl"
path = "${MISSING_DIR}/in.jsonl"

[sinks.out]
type = "jsonl"
path = { file = "/nonexistent/secret" }
"""
    )
    with pytest.raises(config.ConfigError) as info:
        config.load(tmp_path / "p.toml", env={})
    lines = {p.key: p.line for p in info.value.found}
    assert lines["sources[0].path"] == 3
    assert lines["sinks.out.path.file"] == 7
    assert "MISSING_DIR is not set" in str(info.value)


def test_invalid_toml_names_the_line(tmp_path):
    (tmp_path / "p.toml").write_text('[pipeline]\nname = "x"\nbroken = \n')
    with pytest.raises(config.ConfigError, match="not valid TOML") as info:
        config.load(tmp_path / "p.toml")
    assert info.value.found[0].line == 3


def test_router_default_policies_and_unknown_keys(tmp_path):
    (tmp_path / "p.toml").write_text(
        """[[sources]]
type = "jsonl"
path = "in.jsonl"

[[routes]]
name = "support"
sinks = "out"
tema = "support"

[router]
default = "suport"

[sinks.out]
type = "jsonl"
path = "out.jsonl"
batch_size = 3

[policies.ot]
batch_size = 1
"""
    )
    with pytest.raises(config.ConfigError) as info:
        config.load(tmp_path / "p.toml")
    messages = {p.key: (p.line, p.message) for p in info.value.found}
    assert messages["routes[0].tema"][0] == 8
    assert "did you mean 'team'?" in messages["routes[0].tema"][1]
    assert "[policies.out]" in messages["sinks.out.batch_size"][1]
    assert "did you mean 'out'?" in messages["policies.ot"][1]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h30m", 5400), ("2d", 172800), ("500ms", 0.5), (45, 45)],
)
def test_parse_duration(text, seconds):
    assert config.parse_duration(text).total_seconds() == seconds


def test_parse_duration_rejects_garbage():
    with pytest.raises(ValueError, match="duration"):
        config.parse_duration("ten minutes")


def test_toml_map_handles_nesting():
    text = """
[[sources]]
type = "a"
timelines = [
  { tag = "x" },
  { search = "a = [b]" },
]
[[sources]]
retry = { attempts = 3, wait_max = 2 }
[sinks."quoted.name"]
type = "x"
"""
    m = TomlMap(text)
    assert m.line(("sources", 0, "timelines", 1, "search")) == 6
    assert m.line(("sources", 1, "retry", "wait_max")) == 9
    assert m.line(("sinks", "quoted.name", "type")) == 11
    assert m.line(("sinks", "quoted.name", "missing")) == 10
    assert m.line(("nowhere",)) is None


def test_queries_filters_with_args_and_query_routes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(FIXTURES / "posts.jsonl", tmp_path / "posts.jsonl")
    (tmp_path / "p.toml").write_text(
        """
[queries]
trouble = 'stuck OR delay* OR "no announcement"'

[[sources]]
type = "jsonl"
path = "posts.jsonl"

[[filters]]
type = "language"
args = ["en"]

[[filters]]
query = "NOT spam"

[[routes]]
name = "support"
sinks = ["support"]
when = "trouble"

[[routes]]
name = "rest"
sinks = ["rest"]

[sinks.support]
type = "memory"

[sinks.rest]
type = "memory"
"""
    )
    loaded = config.load(tmp_path / "p.toml")
    assert "QuerySet.annotate" in loaded.graph
    assert "when stuck OR delay*" in loaded.graph
    report = anyio.run(loaded.pipeline.run_once)
    support = loaded.pipeline.sinks["support"].posts
    rest = loaded.pipeline.sinks["rest"].posts
    assert support, report
    assert all(p.annotations["matched"] == ["trouble"] for p in support)
    assert all(p.lang == "en" for p in support + rest)
    assert report.kept == len(support) + len(rest)


def test_a_bad_query_is_reported(tmp_path):
    (tmp_path / "p.toml").write_text(
        """[queries]
bad = 'stuck AND ('
[[sources]]
type = "jsonl"
path = "x"
[sinks.s]
type = "memory"
"""
    )
    with pytest.raises(config.ConfigError) as info:
        config.load(tmp_path / "p.toml")
    (problem,) = info.value.found
    assert (problem.key, problem.line) == ("queries.bad", 2)
    assert "invalid query" in problem.message


def test_the_documented_example_file_is_valid(tmp_path):
    pytest.importorskip("vaderSentiment", reason="the example uses the 'sentiment' extra")
    page = (HERE.parents[1] / "docs" / "how-to" / "configure.md").read_text()
    text = page.split("```toml\n", 1)[1].split("```", 1)[0]
    secret = tmp_path / "bluesky"
    secret.write_text("app-password-value\n")
    text = text.replace("/run/secrets/bluesky", str(secret))
    (tmp_path / "pipeline.toml").write_text(text)
    loaded = config.load(tmp_path / "pipeline.toml", env={"MASTODON_TOKEN": "t0ken-value"})
    pipeline = loaded.pipeline
    assert pipeline.sources[0].name == "mastodon"
    assert pipeline.sources[1].name.startswith("bluesky:")
    assert pipeline.sources[1].app_password == "app-password-value"
    assert pipeline.router.default.name == "archive"
    assert pipeline.policy("ops").retry.attempts == 8
    assert "t0ken-value" not in loaded.graph


def test_a_reply_sink_shares_the_state_store_and_keeps_secrets(tmp_path):
    """``type = "replies"``: drafts go to the pipeline's [state], secrets stay out of reprs."""
    from socialplug.sinks import MemorySink
    from socialplug.sinks.replies import ApprovalQueue, MastodonReplier, ReplySink
    from socialplug.sync import run_once

    shutil.copy(FIXTURES / "posts.jsonl", tmp_path / "posts.jsonl")
    (tmp_path / "p.toml").write_text(
        f"""
[state]
type = "sqlite"
path = "{tmp_path / "state.db"}"
[[sources]]
type = "jsonl"
path = "{tmp_path / "posts.jsonl"}"
[[filters]]
query = "stuck"
[sinks.replies]
type = "replies"
compose = "Sorry {{author.name}}, trains are being rerouted"
secret = "${{REPLIES_SECRET}}"
callback_url = "https://ops.example.com/socialplug"
notify = {{ type = "memory" }}
[sinks.replies.mastodon]
base_url = "https://mastodon.example"
token = {{ env = "MASTODON_TOKEN" }}
"""
    )
    env = {"REPLIES_SECRET": "links-secret-123", "MASTODON_TOKEN": "token-value-456"}
    loaded = config.load(tmp_path / "p.toml", env=env)
    sink = loaded.pipeline.sinks["replies"]
    assert isinstance(sink, ReplySink)
    assert sink.queue.store is loaded.pipeline.state
    assert isinstance(sink.notify, MemorySink)
    (replier,) = sink.repliers
    assert isinstance(replier, MastodonReplier)
    assert replier.token == "token-value-456"
    for text in (repr(sink), repr(loaded.pipeline), loaded.graph):
        assert "links-secret-123" not in text
        assert "token-value-456" not in text
    report = run_once(loaded.pipeline)
    assert report.delivered["replies"] >= 1

    async def pending():
        return await ApprovalQueue(SQLiteStateStore(tmp_path / "state.db")).pending()

    drafts = anyio.run(pending)
    assert len(drafts) == report.delivered["replies"]
    assert "trains are being rerouted" in drafts[0].text
    assert len(sink.notify.items) == len(drafts)
    assert "links-secret-123" not in json.dumps([a.summary for a in sink.notify.items])

    # Without [state] the sink and the pipeline share the in-memory default.
    text = (tmp_path / "p.toml").read_text().split("[[sources]]", 1)[1]
    (tmp_path / "p.toml").write_text("[[sources]]" + text)
    loaded = config.load(tmp_path / "p.toml", env=env)
    assert loaded.pipeline.sinks["replies"].queue.store is loaded.pipeline.state


def test_reply_sink_compose_forms_and_their_errors(tmp_path):
    """compose is a template or 'module:function'; every mistake names its line and key."""
    from socialplug.sinks.replies import ReplyTemplate

    (tmp_path / "house_replies.py").write_text(
        "def compose(post):\n    return 'hi ' + post.author.handle\n\nNOT_CALLABLE = 3\n"
    )
    head = '[[sources]]\ntype = "jsonl"\npath = "posts.jsonl"\n'
    good = (
        head
        + '[sinks.a]\ntype = "replies"\ncompose = "house_replies:compose"\n'
        + '[sinks.b]\ntype = "replies"\ncompose = { template = "Thanks:{author.name}" }\n'
        + '[sinks.c]\ntype = "replies"\ncompose = { function = "house_replies:compose" }\n'
    )
    (tmp_path / "good.toml").write_text(good)
    sinks = config.load(tmp_path / "good.toml", env={}).pipeline.sinks
    assert sinks["a"].compose.__name__ == "compose"  # imported from the file's folder
    assert sinks["b"].compose == ReplyTemplate("Thanks:{author.name}")
    assert sinks["c"].compose is sinks["a"].compose

    bad = (
        head
        + '[sinks.a]\ntype = "replies"\ncompose = "no_such_module:compose"\n'  # line 6
        + '[sinks.b]\ntype = "replies"\ncompose = "house_replies:NOT_CALLABLE"\n'  # line 9
        + '[sinks.c]\ntype = "replies"\ncompose = "house_replies:missing"\n'  # line 12
        + '[sinks.d]\ntype = "replies"\ncompose = "Hi @{author.handel}"\n'  # line 15
        + '[sinks.e]\ntype = "replies"\ncompose = "x"\nstate = "mine"\n'  # line 19
        + '[sinks.f]\ntype = "replies"\ncompose = "x"\nnotify = { type = "slak" }\n'  # line 23
        + '[sinks.g]\ntype = "replies"\ncompose = "x"\nmastodon = { base_url = "u" }\n'  # 27
        + '[sinks.h]\ntype = "replies"\n'  # line 28
    )
    (tmp_path / "bad.toml").write_text(bad)
    with pytest.raises(config.ConfigError) as info:
        config.load(tmp_path / "bad.toml", env={})
    found = {(p.line, p.key): p.message for p in info.value.found}
    assert "cannot import 'no_such_module'" in found[6, "sinks.a.compose"]
    assert "is not callable (it is 'int')" in found[9, "sinks.b.compose"]
    assert "has no attribute 'missing'" in found[12, "sinks.c.compose"]
    assert "did you mean {author.handle}" in found[15, "sinks.d.compose"]
    assert "pipeline's [state]" in found[19, "sinks.e.state"]
    assert "did you mean 'slack'" in found[23, "sinks.f.notify.type"]
    assert "needs 'token'" in found[27, "sinks.g.mastodon"]
    assert "needs 'compose'" in found[28, "sinks.h"]
    assert len(found) == 8


def test_the_documented_reply_sink_table_is_valid(tmp_path):
    """The TOML of docs/sinks/replies.md loads, with every secret kept out of sight."""
    from socialplug.sinks.replies import BlueskyReplier, MastodonReplier, ReplyTemplate
    from socialplug.sinks.slack import SlackWebhookSink

    page = (HERE.parents[1] / "docs" / "sinks" / "replies.md").read_text()
    text = page.split("```toml\n", 1)[1].split("```", 1)[0]
    secret = tmp_path / "bluesky"
    secret.write_text("bluesky-app-password\n")
    text = text.replace("/run/secrets/bluesky", str(secret))
    text = text.replace('path = "state.db"', f'path = "{tmp_path / "state.db"}"')
    source = f'[[sources]]\ntype = "jsonl"\npath = "{FIXTURES / "posts.jsonl"}"\n'
    (tmp_path / "pipeline.toml").write_text(source + text)
    env = {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/slack-secret-path",
        "REPLIES_SECRET": "links-secret-value",
        "MASTODON_TOKEN": "mastodon-token-value",
    }
    loaded = config.load(tmp_path / "pipeline.toml", env=env)
    sink = loaded.pipeline.sinks["replies"]
    assert isinstance(sink.compose, ReplyTemplate)
    assert isinstance(sink.notify, SlackWebhookSink)
    assert [type(r) for r in sink.repliers] == [MastodonReplier, BlueskyReplier]
    assert sink.repliers[1].app_password == "bluesky-app-password"
    shown = repr(sink) + repr(loaded.pipeline) + loaded.graph
    for value in (*env.values(), "bluesky-app-password"):
        assert value not in shown
