"""
Pipelines described in a TOML file, built from plugins by name.

A pipeline file names each component by its plugin ``type`` (see :mod:`socialplug.plugins`)
and gives its keyword arguments::

    [pipeline]
    name = "rail-monitor"

    [state]
    type = "sqlite"
    path = "state.db"

    [[sources]]
    type = "mastodon"
    servers = ["https://mastodon.example"]
    timelines = [{ tag = "railco" }]
    token = "${MASTODON_TOKEN}"

    [[routes]]
    name = "support"
    sinks = ["support"]
    when = "delay OR stuck"

    [sinks.support]
    type = "jsonl"
    path = "support.jsonl"

Strings may use ``${ENV_VAR}`` (``${ENV_VAR:-default}`` for a default, ``$${`` for a literal
``${``) and ``${file:/run/secrets/token}``; a table ``{ file = "/run/secrets/token" }`` or
``{ env = "TOKEN" }`` stands for the secret itself. Values read from the environment or from
files are secrets: they never appear in error messages.

:func:`load` checks the whole file before building anything and raises
:exc:`ConfigError` listing every problem with its file, line and key, with the closest valid
name when a name looks like a typo.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import attrs

from . import plugins
from ._tomlmap import KeyPath, TomlMap
from .exceptions import ConfigurationError, PluginError, PluginNotFoundError
from .pipeline import Pipeline, SinkPolicy
from .state import MemoryStateStore


__all__ = [
    "ConfigError",
    "LoadedPipeline",
    "Problem",
    "load",
    "parse_duration",
]

SECTIONS = (
    "pipeline",
    "state",
    "queries",
    "sources",
    "filters",
    "transforms",
    "routes",
    "router",
    "detectors",
    "sinks",
    "policies",
)
_PIPELINE_KEYS = ("name", "buffer", "tick_interval", "drain_timeout")
_ROUTE_KEYS = ("name", "sinks", "when", "query", "alerts", "team", "priority", "escalation")
_ROUTER_KEYS = ("default", "fan_out")
_POLICY_KEYS = ("batch_size", "batch_wait", "concurrency", "seen_ttl", "retry")
_RETRY_KEYS = ("attempts", "timeout", "wait_initial", "wait_max", "wait_jitter", "max_retry_after")
_REDACTED = "***"
#: Sink settings that are sinks themselves (a table with a ``type``), by sink type.
_NESTED_SINKS = {"replies": ("notify",)}


@attrs.frozen
class Problem:
    """One thing wrong in a pipeline file."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(ConfigurationError):
    """
    A pipeline file has problems; :attr:`found` holds every one of them, in file order.
    """

    def __init__(self, found: Sequence[Problem], /) -> None:
        ordered = sorted(found, key=lambda p: (p.line or 0, p.key))
        count = len(ordered)
        head = f"{count} problem{'s' if count != 1 else ''} in the pipeline file"
        super().__init__(
            head + ":\n" + "\n".join(f"  {p}" for p in ordered),
            problems=tuple(str(p) for p in ordered),
        )
        self.found = tuple(ordered)


@attrs.frozen(kw_only=True, eq=False)
class LoadedPipeline:
    """
    A pipeline built from a file, with what the command line needs beside it.

    Attributes:
        pipeline: The pipeline, ready to run.
        path: The file it came from.
        queries: The named queries (text) of ``[queries]``.
        monitors: The names of the detectors that keep incidents (for ``incidents`` commands).
        graph: A plain-text picture of the wiring.
    """

    pipeline: Pipeline
    path: Path
    queries: Mapping[str, str]
    monitors: tuple[str, ...]
    graph: str


# -- durations and values -------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object, /) -> timedelta:
    """
    ``"90s"``, ``"10m"``, ``"1h30m"``, ``"2d"``, ``"500ms"`` or a number of seconds, as a
    timedelta.

    Raises:
        ValueError: *value* is not a duration.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        msg = f"expected a duration like '10m', got {value!r}"
        raise ValueError(msg)  # noqa: TRY004 - a wrong value in a file, not a wrong type
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        single = _DURATION.match(value)
        if single:
            return timedelta(seconds=float(single.group(1)) * _UNITS[single.group(2) or "s"])
        compact = value.replace(" ", "")
        parts = _DURATION_PART.findall(compact)
        if parts and "".join(a + b for a, b in parts) == compact:
            return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    msg = f"expected a duration like '10m', '1h30m' or seconds, got {value!r}"
    raise ValueError(msg)


def _parse_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    msg = f"expected a date or time, got {value!r}"
    raise ValueError(msg)


# -- interpolation and secrets ---------------------------------------------------------------

_INTERP = re.compile(r"\$\$\{|\$\{([^}]*)\}")


@attrs.define
class _Secrets:
    values: set[str] = attrs.field(factory=set)

    def add(self, value: str) -> str:
        if len(value) >= 3:
            self.values.add(value)
        return value

    def redact(self, text: str) -> str:
        for secret in sorted(self.values, key=len, reverse=True):
            text = text.replace(secret, _REDACTED)
        return text


class _Resolver:
    """Replaces ``${...}`` and secret tables through a document, collecting problems."""

    def __init__(
        self,
        env: Mapping[str, str],
        base: Path,
        secrets: _Secrets,
        report: Callable[[KeyPath, str], None],
    ) -> None:
        self.env = env
        self.base = base
        self.secrets = secrets
        self.report = report

    def resolve(self, value: Any, path: KeyPath) -> Any:
        if isinstance(value, str):
            return self._string(value, path)
        if isinstance(value, list):
            return [self.resolve(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            if set(value) == {"file"} and isinstance(value["file"], str):
                return self._file(self._string(value["file"], (*path, "file")), (*path, "file"))
            if set(value) == {"env"} and isinstance(value["env"], str):
                return self._env(value["env"], None, (*path, "env"))
            return {k: self.resolve(v, (*path, k)) for k, v in value.items()}
        return value

    def _string(self, text: str, path: KeyPath) -> str:
        if "$" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            body = match.group(1).strip()
            if body.startswith("file:"):
                return self._file(body[5:].strip(), path)
            name, sep, default = body.partition(":-")
            return self._env(name.strip(), default if sep else None, path)

        return _INTERP.sub(replace, text)

    def _env(self, name: str, default: str | None, path: KeyPath) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            self.report(path, f"'${{{name}}}' is not a valid environment variable reference")
            return ""
        value = self.env.get(name)
        if value is None:
            if default is not None:
                return default
            self.report(path, f"environment variable {name} is not set")
            return ""
        return self.secrets.add(value)

    def _file(self, name: str, path: KeyPath) -> str:
        target = Path(name).expanduser()
        if not target.is_absolute():
            target = self.base / target
        try:
            value = target.read_text(encoding="utf-8").strip()
        except OSError as exc:
            self.report(path, f"cannot read secret file {target}: {exc.strerror or exc}")
            return ""
        return self.secrets.add(value)


# -- nested values that are objects in Python ---------------------------------------------


def _call_spec(kind: str, factory: Any, spec: Any) -> Any:
    """``"home"`` -> factory.home(); ``{ tag = "x" }`` -> factory.tag("x") or (**table)."""
    if isinstance(spec, str):
        method = getattr(factory, spec, None)
        if method is None or spec.startswith("_"):
            raise ValueError(f"unknown {kind} {spec!r}")
        return method()
    if isinstance(spec, dict) and len(spec) == 1:
        ((name, args),) = spec.items()
        method = getattr(factory, name, None)
        if method is None or name.startswith("_"):
            raise ValueError(f"unknown {kind} {name!r}")
        return method(**args) if isinstance(args, dict) else method(args)
    raise TypeError(f"expected a {kind} name or a one-key table, got {spec!r}")


def _nested(kind: plugins.Kind, name: str, base: Path) -> dict[str, Callable[[Any], Any]]:
    """Converters for arguments whose values are objects (by plugin)."""
    if kind == "sinks" and name == "replies":
        from .sinks import replies  # noqa: PLC0415

        return {
            "compose": lambda v: _compose(v, base),
            "mastodon": lambda v: _obj(replies.MastodonReplier, v),
            "bluesky": lambda v: _obj(replies.BlueskyReplier, v),
        }
    if kind == "sources" and name == "mastodon":
        from .sources.mastodon import Timeline  # noqa: PLC0415

        return {"timelines": lambda v: [_call_spec("timeline", Timeline, x) for x in _many(v)]}
    if kind == "sources" and name == "bluesky":
        from .sources.bluesky import Feed  # noqa: PLC0415

        return {"feeds": lambda v: [_call_spec("feed", Feed, x) for x in _many(v)]}
    if kind == "detectors" and name == "monitor":
        from . import alerting  # noqa: PLC0415

        return {
            "spikes": lambda v: [_obj(alerting.Spike, x) for x in _many(v)],
            "incidents": lambda v: _obj(alerting.Incidents, v),
            "throttle": _throttle,
            "digests": lambda v: [_obj(alerting.Digest, x) for x in _many(v)],
            "gaps": lambda v: _obj(alerting.Gaps, v),
        }
    return {}


_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _import_object(spec: str, base: Path) -> Any:
    """``"package.module:attribute"``, imported; the pipeline file's folder is searched too."""
    import importlib  # noqa: PLC0415
    import sys  # noqa: PLC0415

    module_name, _, attr = spec.partition(":")
    folder = str(base.resolve())
    added = folder not in sys.path
    if added:
        sys.path.append(folder)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} (from {spec!r}): {exc}") from exc
    except Exception as exc:
        raise ValueError(
            f"importing {module_name!r} (from {spec!r}) failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if added:
            sys.path.remove(folder)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{spec!r}: {module_name!r} has no attribute {attr!r}") from None
    return obj


def _compose(spec: Any, base: Path) -> Any:
    """
    A reply sink's ``compose``: ``"package.module:function"`` or ``{ function = "..." }``
    imports a callable; any other text, or ``{ template = "..." }``, is a ReplyTemplate.
    """
    from .sinks.replies import ReplyTemplate  # noqa: PLC0415

    if isinstance(spec, dict) and len(spec) == 1 and "template" in spec:
        spec = spec["template"]
        if not isinstance(spec, str):
            raise TypeError("compose.template must be text")
        return ReplyTemplate(spec)
    if isinstance(spec, dict) and len(spec) == 1 and "function" in spec:
        spec = spec["function"]
        if not isinstance(spec, str) or not _IMPORT_PATH.match(spec):
            raise ValueError(f"compose.function must be 'package.module:function', got {spec!r}")
    elif not isinstance(spec, str):
        raise TypeError(
            "compose is a template text, 'package.module:function', "
            "{ template = '...' } or { function = '...' }"
        )
    elif not _IMPORT_PATH.match(spec):
        return ReplyTemplate(spec)
    found = _import_object(spec, base)
    if not callable(found):
        raise TypeError(f"{spec!r} is not callable (it is {type(found).__name__!r})")
    return found


def _many(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_KEY_FUNCTIONS = ("by_route", "by_matched", "everything")


def _obj(cls: type[Any], table: Any) -> Any:
    if not isinstance(table, dict):
        raise TypeError(f"expected a table of {cls.__name__} settings, got {table!r}")
    kwargs = _coerce(cls, dict(table))
    if cls.__name__ == "Spike" and isinstance(kwargs.get("key"), str):
        from . import alerting  # noqa: PLC0415

        if kwargs["key"] not in _KEY_FUNCTIONS:
            raise ValueError(
                f"unknown spike key {kwargs['key']!r}{_suggest(kwargs['key'], _KEY_FUNCTIONS)}"
            )
        kwargs["key"] = getattr(alerting, kwargs["key"])
    _check_kwargs(cls, kwargs, cls.__name__)
    return cls(**kwargs)


def _throttle(table: Any) -> Any:
    from .alerting import Bucket, Throttle  # noqa: PLC0415

    if not isinstance(table, dict):
        raise TypeError(f"expected a table of Throttle settings, got {table!r}")
    kwargs = dict(table)
    for key in ("route", "key"):
        if isinstance(kwargs.get(key), dict):
            kwargs[key] = _obj(Bucket, kwargs[key])
    if "exempt" in kwargs:
        kwargs["exempt"] = frozenset(kwargs["exempt"])
    return _obj(Throttle, kwargs)


def _field_types(factory: Any) -> dict[str, str]:
    target = factory if isinstance(factory, type) else None
    if target is not None and attrs.has(target):
        return {
            (f.alias or f.name): str(f.type)
            for f in attrs.fields(target)
            if f.init and f.type is not None
        }
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}
    return {
        n: str(p.annotation)
        for n, p in sig.parameters.items()
        if p.annotation is not inspect.Parameter.empty
    }


def _coerce(factory: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Durations and datetimes written as text become timedelta and datetime."""
    types = _field_types(factory)
    out = dict(kwargs)
    for key, value in kwargs.items():
        hint = types.get(key, "")
        if "timedelta" in hint and not isinstance(value, dict | list):
            out[key] = parse_duration(value) if value is not None else None
        elif "datetime" in hint and isinstance(value, str | date):
            out[key] = _parse_datetime(value)
        elif key == "retry" and "RetryPolicy" in hint and isinstance(value, dict):
            out[key] = _retry(value)
    return out


def _retry(table: Mapping[str, Any]) -> Any:
    from ._retry import RetryPolicy  # noqa: PLC0415

    _check_kwargs(RetryPolicy, dict(table), "retry")
    return RetryPolicy(**table)


def _parameters(factory: Any) -> tuple[list[str], list[str], bool] | None:
    """(accepted names, required names, takes **kwargs), or None if unknown."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    accepted, required = [], []
    var_kw = False
    for name, p in sig.parameters.items():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            accepted.append(name)
            if p.default is inspect.Parameter.empty:
                required.append(name)
    return accepted, required, var_kw


def _check_kwargs(factory: Any, kwargs: Mapping[str, Any], what: str) -> None:
    params = _parameters(factory)
    if params is None:
        return
    accepted, required, var_kw = params
    problems = []
    if not var_kw:
        for key in kwargs:
            if key not in accepted:
                problems.append(f"{what} has no setting {key!r}{_suggest(key, accepted)}")
    for key in required:
        if key not in kwargs:
            problems.append(f"{what} needs {key!r}")
    if problems:
        raise ValueError("; ".join(problems))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _keypath(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# -- the builder ---------------------------------------------------------------------------


class _Builder:
    def __init__(self, path: Path, text: str, env: Mapping[str, str]) -> None:
        self.path = path
        self.text = text
        self.map = TomlMap(text)
        self.secrets = _Secrets()
        self.problems: list[Problem] = []
        self.resolver = _Resolver(env, path.parent, self.secrets, self.report)

    def report(self, path: KeyPath, message: str) -> None:
        self.problems.append(
            Problem(
                file=str(self.path),
                line=self.map.line(path),
                key=_keypath(path),
                message=self.secrets.redact(message),
            )
        )

    # -- components --

    def component(self, kind: plugins.Kind, table: Any, path: KeyPath, **inject: Any) -> Any:
        if not isinstance(table, dict):
            self.report(path, f"expected a table with a 'type', got {type(table).__name__}")
            return None
        name = table.get("type")
        if not isinstance(name, str):
            self.report(path, f"missing 'type' (one of: {', '.join(plugins.names(kind))})")
            return None
        try:
            factory = plugins.load(kind, name)
        except PluginNotFoundError:
            installed = plugins.names(kind)
            hint = _suggest(name, installed) or f" (installed: {', '.join(installed) or 'none'})"
            self.report(
                (*path, "type"),
                f"unknown {kind[:-1] if kind != 'state' else 'state'} type {name!r}{hint}",
            )
            return None
        except PluginError as exc:
            self.report((*path, "type"), str(exc))
            return None
        kwargs = {k: v for k, v in table.items() if k not in ("type", "args")}
        args = table.get("args", [])
        if not isinstance(args, list):
            args = [args]
        ok = True
        guessed: set[str] = set()
        params = _parameters(factory)
        if params is not None:
            accepted, required, var_kw = params
            if not var_kw:
                for key in list(kwargs):
                    if key not in accepted:
                        hint = _suggest(key, accepted)
                        if not hint and kind == "sinks" and key in _POLICY_KEYS:
                            hint = f" (batching and retries go in [policies.{path[-1]}])"
                        self.report((*path, key), f"{name!r} has no setting {key!r}{hint}")
                        guessed.update(difflib.get_close_matches(key, accepted, n=1, cutoff=0.6))
                        ok = False
            for key, value in inject.items():
                if key not in accepted:
                    continue
                if key == "state" and key in kwargs:
                    self.report((*path, key), "the state store is the pipeline's [state]")
                    ok = False
                elif value is None:  # what it depends on failed (and was reported)
                    ok = False
                elif key not in kwargs:
                    kwargs[key] = value
            for key in required:
                if key not in kwargs and key not in guessed and key not in inject and not args:
                    self.report(path, f"{name!r} needs {key!r}")
                    ok = False
        if kind == "sinks":
            for key in _NESTED_SINKS.get(name, ()):
                if key in kwargs:
                    kwargs[key] = self.component("sinks", kwargs[key], (*path, key))
                    ok = ok and kwargs[key] is not None
        converters = _nested(kind, name, self.path.parent)
        for key, value in list(kwargs.items()):
            if key in converters:
                try:
                    kwargs[key] = converters[key](value)
                except (ValueError, TypeError, ConfigurationError) as exc:
                    self.report((*path, key), str(exc))
                    ok = False
        try:
            kwargs = _coerce(factory, kwargs)
        except ValueError as exc:
            self.report(path, str(exc))
            ok = False
        if not ok:
            return None
        try:
            return plugins.build(kind, name, *args, **kwargs)
        except ConfigurationError as exc:
            for problem in exc.problems:
                self.report(path, f"{name!r}: {problem}")
        except (TypeError, ValueError, PluginError) as exc:
            self.report(path, f"{name!r}: {exc}")
        return None

    def _fields(self, table: Any, path: KeyPath, allowed: Sequence[str], what: str) -> bool:
        if not isinstance(table, dict):
            self.report(path, f"{what} must be a table")
            return False
        ok = True
        for key in table:
            if key not in allowed:
                self.report(
                    (*path, key), f"unknown {what} setting {key!r}{_suggest(key, allowed)}"
                )
                ok = False
        return ok

    # -- the document --

    def build(self, doc: dict[str, Any]) -> LoadedPipeline | None:
        for key in doc:
            if key not in SECTIONS:
                self.report((key,), f"unknown section {key!r}{_suggest(key, SECTIONS)}")
        doc = self.resolver.resolve(doc, ())

        settings = doc.get("pipeline", {})
        self._fields(settings, ("pipeline",), _PIPELINE_KEYS, "pipeline")
        queries = self.queries(doc.get("queries", {}))
        state = None
        if "state" in doc:
            state = self.component("state", doc["state"], ("state",))
        else:  # the pipeline's default, made here so that sinks can share it
            state = MemoryStateStore()

        sources = []
        raw_sources = doc.get("sources", [])
        if not isinstance(raw_sources, list):
            self.report(("sources",), "write sources as [[sources]] tables")
            raw_sources = []
        if not raw_sources:
            self.report((), "the pipeline has no [[sources]]")
        for i, table in enumerate(raw_sources):
            sources.append(self.component("sources", table, ("sources", i)))
        names = [getattr(s, "name", None) for s in sources if s is not None]
        for i, s in enumerate(sources):
            if s is not None and names.count(s.name) > 1:
                self.report(("sources", i), f'two sources are named {s.name!r}; add name = "..."')

        sinks: dict[str, Any] = {}
        raw_sinks = doc.get("sinks", {})
        if not isinstance(raw_sinks, dict):
            self.report(("sinks",), "write sinks as [sinks.NAME] tables")
            raw_sinks = {}
        if not raw_sinks:
            self.report((), "the pipeline has no [sinks.NAME]")
        for key, table in raw_sinks.items():
            sinks[key] = self.component("sinks", table, ("sinks", key), state=state)

        filters = [
            self.filter(t, ("filters", i), queries) for i, t in enumerate(doc.get("filters", []))
        ]
        transforms = [
            self.component("transforms", t, ("transforms", i))
            for i, t in enumerate(doc.get("transforms", []))
        ]
        if queries and _query_class() is not None:
            from .filters import QuerySet  # noqa: PLC0415

            # Every kept post is annotated with the names of the queries it matches
            # (annotations["matched"]), for routes, spike keys and reports.
            transforms.insert(0, QuerySet(queries).annotate)
        router = self.router(doc, queries, sinks)
        detectors = []
        monitors = []
        for i, table in enumerate(doc.get("detectors", [])):
            detector = self.component("detectors", table, ("detectors", i), router=router)
            detectors.append(detector)
            if detector is not None and hasattr(detector, "open_incidents"):
                monitors.append(detector.name)
        policies = self.policies(doc.get("policies", {}), sinks)
        if self.problems:
            return None
        pipeline_kwargs: dict[str, Any] = {
            k: settings[k] for k in _PIPELINE_KEYS if isinstance(settings, dict) and k in settings
        }
        if state is not None:
            pipeline_kwargs["state"] = state
        try:
            pipeline = Pipeline(
                sources=sources,
                sinks=sinks,
                filters=filters,
                transforms=transforms,
                router=router,
                detectors=detectors,
                policies=policies,
                **pipeline_kwargs,
            )
            pipeline.validate()
        except (ConfigurationError, TypeError, ValueError) as exc:
            for problem in getattr(exc, "problems", (str(exc),)):
                self.report(("pipeline",), problem)
            return None
        return LoadedPipeline(
            pipeline=pipeline,
            path=self.path,
            queries=queries,
            monitors=tuple(monitors),
            graph=graph(pipeline, queries),
        )

    def queries(self, table: Any) -> dict[str, str]:
        if not isinstance(table, dict):
            self.report(("queries",), "[queries] must map names to query text")
            return {}
        out = {}
        for name, text in table.items():
            if not isinstance(text, str):
                self.report(("queries", name), "a query is a string")
                continue
            problem = _query_problem(text)
            if problem:
                self.report(("queries", name), problem)
                continue
            out[name] = text
        return out

    def query(self, ref: Any, path: KeyPath, queries: Mapping[str, str]) -> Any:
        if not isinstance(ref, str):
            self.report(path, "expected a query (text, or the name of one in [queries])")
            return None
        text = queries.get(ref, ref)
        query_cls = _query_class()
        if query_cls is None:
            self.report(path, "the query language is not available in this installation")
            return None
        try:
            return query_cls(text)
        except (ValueError, ConfigurationError) as exc:
            self.report(path, f"invalid query: {exc}")
            return None

    def filter(self, table: Any, path: KeyPath, queries: Mapping[str, str]) -> Any:
        if isinstance(table, dict) and "query" in table and "type" not in table:
            self._fields(table, path, ("query",), "filter")
            return self.query(table["query"], (*path, "query"), queries)
        return self.component("filters", table, path)

    def router(self, doc: Mapping[str, Any], queries: Mapping[str, str], sinks: Any) -> Any:
        raw = doc.get("routes", [])
        settings = doc.get("router", {})
        if not raw:
            if settings:
                self.report(("router",), "[router] settings need [[routes]]")
            return None
        if not isinstance(raw, list):
            self.report(("routes",), "write routes as [[routes]] tables")
            return None
        if isinstance(settings, dict) and "type" in settings:
            return self.component("routers", settings, ("router",))
        from .routing import Escalation, Route, Router, Tier  # noqa: PLC0415

        routes = []
        route_names = [r.get("name") for r in raw if isinstance(r, dict)]
        for i, table in enumerate(raw):
            path: KeyPath = ("routes", i)
            if not self._fields(table, path, _ROUTE_KEYS, "route"):
                continue
            kwargs = {k: v for k, v in table.items() if k not in ("when", "query", "escalation")}
            if "name" not in kwargs or "sinks" not in kwargs:
                self.report(path, "a route needs 'name' and 'sinks'")
                continue
            known = ", ".join(sinks) or "none"
            targets = [kwargs["sinks"]] if isinstance(kwargs["sinks"], str) else kwargs["sinks"]
            for j, target in enumerate(targets):
                if target not in sinks:
                    self.report(
                        (*path, "sinks", j)
                        if not isinstance(kwargs["sinks"], str)
                        else (*path, "sinks"),
                        f"route {kwargs['name']!r} sends to sink {target!r}, which is not "
                        f"configured{_suggest(target, sinks) or ' (sinks: ' + known + ')'}",
                    )
            when = table.get("when", table.get("query"))
            if when is not None:
                key = "when" if "when" in table else "query"
                kwargs["when"] = self.query(when, (*path, key), queries)
            if "escalation" in table:
                try:
                    tiers = [
                        Tier(after=parse_duration(t["after"]), route=t["route"])
                        for t in _many(table["escalation"])
                    ]
                    for t in tiers:
                        if t.route not in route_names:
                            raise ValueError(  # noqa: TRY301 - reported with the others
                                f"escalation to route {t.route!r}, which does not exist"
                                f"{_suggest(t.route, [n for n in route_names if n])}"
                            )
                    kwargs["escalation"] = Escalation(*tiers)
                except (KeyError, TypeError, ValueError, ConfigurationError) as exc:
                    self.report(
                        (*path, "escalation"),
                        f"escalation needs tiers of {{ after = '15m', route = 'NAME' }}: {exc}",
                    )
                    continue
            try:
                routes.append(Route(**kwargs))
            except (TypeError, ValueError, ConfigurationError) as exc:
                self.report(path, str(exc))
        if not self._fields(settings, ("router",), _ROUTER_KEYS, "router"):
            return None
        default = None
        if "default" in settings:
            by_name = {r.name: r for r in routes}
            wanted = settings["default"]
            if wanted in by_name:
                default = by_name.pop(wanted)
                routes = [r for r in routes if r.name != wanted]
            else:
                self.report(
                    ("router", "default"),
                    f"default route {wanted!r} is not a route{_suggest(str(wanted), by_name)}",
                )
        try:
            return cast(Any, Router)(
                routes, default=default, fan_out=bool(settings.get("fan_out", False))
            )
        except ConfigurationError as exc:
            for problem in exc.problems:
                self.report(("routes",), problem)
        return None

    def policies(self, table: Any, sinks: Mapping[str, Any]) -> dict[str, SinkPolicy]:
        out: dict[str, SinkPolicy] = {}
        if not isinstance(table, dict):
            self.report(("policies",), "write policies as [policies.SINK] tables")
            return out
        for key, settings in table.items():
            path: KeyPath = ("policies", key)
            if key not in sinks:
                self.report(
                    path, f"policy for sink {key!r}, which is not configured{_suggest(key, sinks)}"
                )
                continue
            if not self._fields(settings, path, _POLICY_KEYS, "policy"):
                continue
            kwargs = dict(settings)
            try:
                if isinstance(kwargs.get("retry"), dict):
                    if not self._fields(kwargs["retry"], (*path, "retry"), _RETRY_KEYS, "retry"):
                        continue
                    kwargs["retry"] = _retry(kwargs["retry"])
                for name in ("batch_wait", "seen_ttl"):
                    if isinstance(kwargs.get(name), str):
                        kwargs[name] = parse_duration(kwargs[name]).total_seconds()
                out[key] = SinkPolicy(**kwargs)
            except (TypeError, ValueError, ConfigurationError) as exc:
                self.report(path, str(exc))
        return out


def _query_class() -> Any:
    from . import filters  # noqa: PLC0415

    return getattr(filters, "Query", None)


def _query_problem(text: str) -> str | None:
    query_cls = _query_class()
    if query_cls is None:
        return None
    try:
        query_cls(text)
    except (ValueError, ConfigurationError) as exc:
        return f"invalid query: {exc}"
    return None


def graph(pipeline: Pipeline, queries: Mapping[str, str] | None = None) -> str:
    """A plain-text picture of *pipeline*: sources, stages, routes and their sinks."""

    def kind(obj: Any) -> str:
        return type(obj).__name__

    lines = [f"pipeline {pipeline.name!r}"]
    lines.append(f"  state: {kind(pipeline.state)}")
    for q, text in (queries or {}).items():
        lines.append(f"  query {q}: {text}")
    for s in pipeline.sources:
        lines.append(f"  source {s.name} ({kind(s)})")
    for f in pipeline.filters:
        lines.append(f"    -> filter {getattr(f, 'text', None) or kind(f)}")
    for t in pipeline.transforms:
        owner = getattr(t, "__self__", None)
        label = f"{kind(owner)}.{getattr(t, '__name__', '')}" if owner is not None else kind(t)
        lines.append(f"    -> transform {label}")
    router = pipeline.router
    routes = getattr(router, "routes", None)
    if routes is None:
        lines.append(f"    -> every sink: {', '.join(pipeline.sinks)}")
    else:
        mode = "fan-out" if getattr(router, "fan_out", False) else "first match"
        lines.append(f"    -> router ({mode})")
        all_routes = [*routes]
        default = getattr(router, "default", None)
        for r in all_routes:
            when = getattr(r.when, "text", None) or ("always" if r.when is None else kind(r.when))
            team = f" team={r.team}" if r.team else ""
            lines.append(
                f"       route {r.name} [{r.priority}{team}] when {when} -> {', '.join(r.sinks)}"
            )
        if default is not None:
            lines.append(f"       default {default.name} -> {', '.join(default.sinks)}")
    for d in pipeline.detectors:
        lines.append(f"    -> detector {d.name} ({kind(d)})")
    for key, sink in pipeline.sinks.items():
        policy = pipeline.policy(key)
        lines.append(
            f"  sink {key} ({kind(sink)}) batch={policy.batch_size} "
            f"retries={policy.retry.attempts}"
        )
    return "\n".join(lines)


def load(
    path: str | os.PathLike[str], /, *, env: Mapping[str, str] | None = None
) -> LoadedPipeline:
    """
    Read, check and build the pipeline file at *path*.

    Args:
        path: The TOML file.
        env: The environment for ``${VAR}`` (default: ``os.environ``).

    Raises:
        ConfigError: Every problem found, with file, line and key.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(file), None, "", f"cannot read: {exc.strerror}")]) from exc
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise ConfigError([Problem(str(file), line, "", f"not valid TOML: {exc}")]) from exc
    builder = _Builder(file, text, os.environ if env is None else env)
    loaded = builder.build(doc)
    if builder.problems or loaded is None:
        raise ConfigError(builder.problems)
    return loaded
