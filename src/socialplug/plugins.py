"""
Plugins: components found by name through entry points.

One entry-point group per component kind:

==========================  ================================================
group                       the object registered must be
==========================  ================================================
``socialplug.sources``      a callable returning a :class:`~socialplug.typing.Source`
``socialplug.filters``      a callable returning a :class:`~socialplug.typing.Filter`
``socialplug.transforms``   a callable returning a :class:`~socialplug.typing.Transform`
``socialplug.routers``      a callable returning a :class:`~socialplug.typing.Router`
``socialplug.sinks``        a callable returning a :class:`~socialplug.typing.Sink`
``socialplug.state``        a callable returning a :class:`~socialplug.typing.StateStore`
``socialplug.detectors``    a callable returning a :class:`~socialplug.typing.Detector`
==========================  ================================================

socialplug registers its own components through the same groups (in its ``pyproject.toml``),
so a third-party component is used from a config file exactly like a built-in one. Discovery is
lazy (nothing is read until :func:`names` or :func:`load` is called) and cached.

``SOCIALPLUG_DISABLE_PLUGINS=1`` in the environment ignores every third-party entry point; the
built-in components stay available.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any, Literal, get_args

import attrs

from .exceptions import PluginError, PluginNotFoundError


__all__ = [
    "BUILTINS",
    "KINDS",
    "Kind",
    "Plugin",
    "build",
    "describe",
    "group_of",
    "load",
    "names",
    "plugins",
    "refresh",
]

Kind = Literal["sources", "filters", "transforms", "routers", "sinks", "state", "detectors"]
"""The component kinds, each with its entry-point group ``socialplug.<kind>``."""

KINDS: tuple[Kind, ...] = get_args(Kind)
"""Every component kind, in pipeline order."""

DISABLE_ENV = "SOCIALPLUG_DISABLE_PLUGINS"

BUILTINS: Mapping[Kind, Mapping[str, str]] = MappingProxyType(
    {
        "sources": {
            "bluesky": "socialplug.sources.bluesky:BlueskySource",
            "feeds": "socialplug.sources.feeds:FeedsSource",
            "hackernews": "socialplug.sources.hackernews:HackerNewsSource",
            "http": "socialplug.sources.http:HTTPSource",
            "iterable": "socialplug.sources:IterableSource",
            "jetstream": "socialplug.sources.bluesky:JetstreamSource",
            "jsonl": "socialplug.sources:JSONLSource",
            "kafka": "socialplug.sources.kafka:KafkaSource",
            "mastodon": "socialplug.sources.mastodon:MastodonSource",
            "mqtt": "socialplug.sources.mqtt:MQTTSource",
            "nats": "socialplug.sources.nats:NatsJetStreamSource",
            "rabbitmq": "socialplug.sources.rabbitmq:RabbitMQSource",
            "reddit": "socialplug.sources.reddit:RedditSource",
            "redis": "socialplug.sources.redis:RedisStreamSource",
            "webhook": "socialplug.sources.webhook:WebhookSource",
            "x": "socialplug.sources.x:XSource",
        },
        "filters": {
            "authors": "socialplug.filters:authors",
            "dedupe": "socialplug.filters:Dedupe",
            "language": "socialplug.filters:language",
            "min_engagement": "socialplug.filters:min_engagement",
            "min_followers": "socialplug.filters:min_followers",
            "platforms": "socialplug.filters:platforms",
            "query": "socialplug.filters:Query",
            "time_window": "socialplug.filters:time_window",
        },
        "transforms": {
            "canonicalize_urls": "socialplug.transforms:CanonicalizeUrls",
            "gazetteer": "socialplug.transforms:Gazetteer",
            "language": "socialplug.transforms:DetectLanguage",
            "sentiment": "socialplug.transforms:Sentiment",
        },
        "routers": {
            "router": "socialplug.routing:Router",
        },
        "sinks": {
            "callable": "socialplug.sinks:CallableSink",
            "console": "socialplug.sinks:ConsoleSink",
            "csv": "socialplug.sinks.files:CSVSink",
            "dataframe": "socialplug.sinks.dataframe:DataFrameSink",
            "discord": "socialplug.sinks.discord:DiscordWebhookSink",
            "email": "socialplug.sinks.email:EmailSink",
            "github": "socialplug.sinks.github:GitHubIssuesSink",
            "jira": "socialplug.sinks.jira:JiraSink",
            "jsonl": "socialplug.sinks:JSONLSink",
            "kafka": "socialplug.sinks.kafka:KafkaSink",
            "matrix": "socialplug.sinks.matrix:MatrixSink",
            "mattermost": "socialplug.sinks.mattermost:MattermostWebhookSink",
            "memory": "socialplug.sinks:MemorySink",
            "mqtt": "socialplug.sinks.mqtt:MQTTSink",
            "nats": "socialplug.sinks.nats:NatsJetStreamSink",
            "opsgenie": "socialplug.sinks.opsgenie:OpsgenieSink",
            "pagerduty": "socialplug.sinks.pagerduty:PagerDutySink",
            "parquet": "socialplug.sinks.files:ParquetSink",
            "postgres": "socialplug.sinks.sql:PostgresSink",
            "rabbitmq": "socialplug.sinks.rabbitmq:RabbitMQSink",
            "redis": "socialplug.sinks.redis:RedisStreamSink",
            "replies": "socialplug.sinks.replies:ReplySink.from_store",
            "slack": "socialplug.sinks.slack:SlackSink",
            "slack_webhook": "socialplug.sinks.slack:SlackWebhookSink",
            "sqlite": "socialplug.sinks.sql:SQLiteSink",
            "teams": "socialplug.sinks.teams:TeamsWebhookSink",
            "webhook": "socialplug.sinks.webhook:WebhookSink",
            "zendesk": "socialplug.sinks.zendesk:ZendeskSink",
        },
        "state": {
            "memory": "socialplug.state:MemoryStateStore",
            "sqlite": "socialplug.state:SQLiteStateStore",
        },
        "detectors": {
            "monitor": "socialplug.alerting:Monitor",
        },
    }
)
"""
The first-party components, as registered in socialplug's own ``pyproject.toml``; they stay
available when the package metadata is missing (a source checkout on ``sys.path``) and when
third-party plugins are disabled.
"""

_FIRST_PARTY = "socialplug"


def group_of(kind: Kind, /) -> str:
    """The entry-point group of *kind*: ``socialplug.<kind>``."""
    return f"socialplug.{kind}"


@attrs.frozen(kw_only=True)
class Plugin:
    """
    One registered component.

    Attributes:
        kind: The component kind.
        name: The name it is registered under (what a config file writes).
        value: Where it lives, ``"module:attribute"``.
        distribution: The distribution that registers it (``"socialplug"`` for built-ins).
    """

    kind: Kind
    name: str
    value: str
    distribution: str

    @property
    def builtin(self) -> bool:
        """Whether socialplug itself provides it."""
        return self.distribution == _FIRST_PARTY


def _disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _dist_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return str(name) if name else "unknown"


@functools.cache
def _index(kind: Kind, disabled: bool) -> Mapping[str, tuple[Plugin, ...]]:  # noqa: FBT001
    found: dict[str, dict[str, Plugin]] = {}
    for name, value in BUILTINS[kind].items():
        found.setdefault(name, {})[value] = Plugin(
            kind=kind, name=name, value=value, distribution=_FIRST_PARTY
        )
    for ep in entry_points(group=group_of(kind)):
        dist = _dist_name(ep)
        if disabled and dist != _FIRST_PARTY:
            continue
        # The same value twice (our own metadata and BUILTINS, or a package installed twice)
        # is one plugin; two different values under one name are ambiguous.
        found.setdefault(ep.name, {}).setdefault(
            ep.value, Plugin(kind=kind, name=ep.name, value=ep.value, distribution=dist)
        )
    return MappingProxyType({k: tuple(v.values()) for k, v in found.items()})


def _check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        msg = f"unknown component kind {kind!r}; kinds are: {', '.join(KINDS)}"
        raise PluginError(msg)
    return kind


def _lookup(kind: Kind) -> Mapping[str, tuple[Plugin, ...]]:
    return _index(kind, _disabled())


def refresh() -> None:
    """Forget what was discovered (after installing or removing a plugin package)."""
    _index.cache_clear()


def names(kind: Kind, /) -> list[str]:
    """Return the names registered for *kind*, sorted."""
    return sorted(_lookup(_check_kind(kind)))


def plugins(kind: Kind, /) -> list[Plugin]:
    """Return every registration for *kind*, sorted by name (ambiguous names appear twice)."""
    index = _lookup(_check_kind(kind))
    return [p for name in sorted(index) for p in index[name]]


def describe(kind: Kind, name: str, /) -> Plugin:
    """
    Return the registration of *name* without importing it.

    Raises:
        PluginNotFoundError: Nothing is registered under *name*.
        PluginError: Several distributions register *name* differently.
    """
    kind = _check_kind(kind)
    candidates = _lookup(kind).get(name, ())
    if not candidates:
        installed = ", ".join(names(kind)) or "none"
        msg = f"no {kind} plugin named {name!r}; installed: {installed}"
        raise PluginNotFoundError(msg)
    if len(candidates) > 1:
        owners = ", ".join(sorted(f"{p.distribution} ({p.value})" for p in candidates))
        msg = (
            f"{kind} plugin {name!r} is registered by several distributions: {owners}; "
            "uninstall one of them"
        )
        raise PluginError(msg)
    return candidates[0]


def _import(value: str) -> Any:
    module, _, attr = value.partition(":")
    obj: Any = import_module(module.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj


def load(kind: Kind, name: str, /) -> Callable[..., Any]:
    """
    Import and return the factory registered as *name* for *kind*.

    Raises:
        PluginNotFoundError: Nothing is registered under *name* (the message lists what is
            installed).
        PluginError: Several distributions register *name*, importing it failed, or what
            it names is not callable.
    """
    plugin = describe(kind, name)
    try:
        factory = _import(plugin.value)
    except Exception as exc:
        msg = (
            f"importing {kind} plugin {name!r} ({plugin.value}, from {plugin.distribution}) "
            f"failed: {type(exc).__name__}: {exc}"
        )
        raise PluginError(msg) from exc
    if not callable(factory):
        msg = f"{kind} plugin {name!r} ({plugin.value}) is not callable"
        raise PluginError(msg)
    return factory  # type: ignore[no-any-return]


def build(kind: Kind, name: str, /, *args: Any, **kwargs: Any) -> Any:
    """
    Load *name* and call it with *args* and *kwargs*; check the result has the shape of *kind*.

    Raises:
        PluginNotFoundError, PluginError: As :func:`load`, or when the built object is not a
            component of *kind*.
    """
    factory = load(kind, name)
    obj = factory(*args, **kwargs)
    problem = _shape_problem(kind, obj)
    if problem:
        msg = f"{kind} plugin {name!r} built a {type(obj).__name__}, which {problem}"
        raise PluginError(msg)
    return obj


def _shape_problem(kind: Kind, obj: Any) -> str | None:
    def has(*methods: str) -> bool:
        return all(callable(getattr(obj, m, None)) for m in methods)

    if kind == "sources":
        ok = has("pages") and isinstance(getattr(obj, "name", None), str)
        return None if ok else "has no pages() method or no name"
    if kind == "sinks":
        return None if has("deliver") else "has no deliver() method"
    if kind == "state":
        ok = has("get_cursor", "set_cursor", "seen", "mark_seen", "records", "put_record")
        return None if ok else "does not implement the StateStore protocol"
    if kind == "detectors":
        return None if has("bind", "observe", "tick") else "has no bind/observe/tick methods"
    return None if callable(obj) else "is not callable"
