"""
Any JSON API: a declarative polling source for the long tail of APIs with no built-in source.

Describe the request (URL template, query parameters, an auth header), where the items are
in the answer (a dotted path), how an item's fields map to a post, and how to resume (a
cursor field sent back as a parameter) and to page (``Link: rel="next"`` headers or a next
token in the body). Pure parts (:func:`lookup`, :func:`map_item`) are usable on their own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import anyio
import attrs
import httpx

from .. import _http
from ..exceptions import ConfigurationError, FetchError
from ..model import Author, Engagement, Malformed, Page, Post
from ._web import PollingSource, dump_cursor, load_cursor


__all__ = ["HTTPSource", "lookup", "map_item"]

_MISSING: Any = object()

#: Post fields a mapping may name (dotted for nested values).
FIELDS = frozenset(
    {
        "id", "text", "html", "title", "url", "created_at", "lang", "reply_to", "thread",
        "tags", "links", "mentions", "author.id", "author.handle", "author.name",
        "author.url", "author.followers", "engagement.likes", "engagement.reposts",
        "engagement.replies", "engagement.quotes", "engagement.score",
    }
)  # fmt: skip


def lookup(value: Any, path: str, default: Any = None) -> Any:
    """
    Follow a dotted *path* (``"data.items"``, ``"user.login"``, ``"media.0.url"``) into JSON.

    An empty path returns *value* itself; a missing step returns *default*.
    """
    if not path:
        return value
    for step in path.split("."):
        if isinstance(value, Mapping) and step in value:
            value = value[step]
        elif (
            isinstance(value, list)
            and step.lstrip("-").isdigit()
            and -len(value) <= int(step) < len(value)
        ):
            value = value[int(step)]
        else:
            return default
    return value


def _time(value: Any) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return _time(float(text))
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    msg = f"created_at is {value!r}, neither ISO 8601 text nor epoch seconds"
    raise ValueError(msg)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value if v is not None)
    return (str(value),)


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    return int(value)


def map_item(
    item: Any, fields: Mapping[str, str], *, platform: str = "http", source: str = ""
) -> Post:
    """
    Build a post from one JSON *item* with *fields* (post field to dotted path in the item).

    ``id`` and ``created_at`` are required (ISO 8601 text or epoch seconds/milliseconds).

    Raises:
        KeyError: A required field is missing from the item.
        ValueError, TypeError: A value has the wrong shape.
    """
    if not isinstance(item, Mapping):
        msg = f"item is {type(item).__name__}, not an object"
        raise TypeError(msg)

    def get(name: str) -> Any:
        path = fields.get(name)
        return None if path is None else lookup(item, path)

    for required in ("id", "created_at"):
        if get(required) is None:
            msg = f"{required!r} (path {fields.get(required)!r}) is missing"
            raise KeyError(msg)

    def text(name: str) -> str | None:
        value = get(name)
        return None if value is None else str(value)

    return Post(
        platform=platform,
        id=str(get("id")),
        text=text("text") or "",
        html=text("html"),
        title=text("title"),
        url=text("url"),
        created_at=_time(get("created_at")),
        lang=text("lang"),
        reply_to=text("reply_to"),
        thread=text("thread"),
        tags=_strings(get("tags")),
        links=_strings(get("links")),
        mentions=_strings(get("mentions")),
        author=Author(
            id=text("author.id") or "",
            handle=text("author.handle") or "",
            name=text("author.name") or "",
            url=text("author.url"),
            followers=_int(get("author.followers")),
        ),
        engagement=Engagement(
            likes=_int(get("engagement.likes")),
            reposts=_int(get("engagement.reposts")),
            replies=_int(get("engagement.replies")),
            quotes=_int(get("engagement.quotes")),
            score=_int(get("engagement.score")),
        ),
        source=source,
        raw=item,
    )


def _order_key(value: Any) -> tuple[int, float, str]:
    """Numbers compare as numbers, everything else as text (ISO times sort as text)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    if isinstance(value, str) and value.isdigit():
        return (0, float(value), "")
    return (1, 0.0, str(value))


@attrs.define(eq=False, kw_only=True)
class HTTPSource(PollingSource):
    """
    Poll a JSON API described declaratively.

    Args:
        url: URL template; ``{name}`` placeholders are filled from *variables*.
        variables: Values for the URL template.
        params: Query parameters sent with every request.
        headers: Extra request headers, e.g. ``{"Authorization": "Bearer ..."}``. Never
            logged (excluded from the repr).
        items: Dotted path to the list of items in the answer (``""``: the answer is the list).
        fields: Post field to dotted path in an item; ``id`` and ``created_at`` are required.
            Dotted post fields address nested ones: ``author.handle``, ``engagement.likes``.
        platform: The posts' platform name.
        cursor_field: Path, in an item, of the value to resume from (an id or a time); the
            largest one read is the cursor.
        cursor_param: Query parameter carrying the cursor on later polls (``since_id``,
            ``since``, ``updated_after``); items at or below the cursor are not emitted again.
        paging: ``"none"``, ``"link"`` (follow ``Link: <...>; rel="next"``) or ``"token"``
            (a next-page token at *token_path* in the body, sent as *token_param*).
        max_pages: Pages read per poll at most.
        client: Send requests with this client. *You* own it; if omitted the source
            creates one on first use and closes it in :meth:`aclose`.

    .. versionadded:: 0.1.0
    """

    url: str
    fields: Mapping[str, str]
    variables: Mapping[str, str] = attrs.field(factory=dict)
    params: Mapping[str, str | int] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    items: str = ""
    platform: str = "http"
    cursor_field: str | None = None
    cursor_param: str | None = None
    paging: Literal["none", "link", "token"] = "none"
    token_path: str | None = None
    token_param: str = "cursor"  # noqa: S105
    max_pages: int = 10
    client: httpx.AsyncClient | None = None
    poll_interval: float = 60.0
    retry: _http.RetryPolicy = attrs.field(factory=_http.RetryPolicy)
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    name: str = attrs.field()
    _owned: httpx.AsyncClient | None = attrs.field(default=None, init=False, repr=False)

    @name.default
    def _default_name(self) -> str:
        return f"http:{self.url}"

    def __attrs_post_init__(self) -> None:
        problems = [f"unknown post field {f!r} in fields=" for f in self.fields if f not in FIELDS]
        problems += [f"fields= needs {f!r}" for f in ("id", "created_at") if f not in self.fields]
        if self.paging == "token" and not self.token_path:
            problems.append("paging='token' needs token_path=")
        if (self.cursor_param is None) != (self.cursor_field is None):
            problems.append("cursor_field= and cursor_param= go together")
        try:
            self.url.format_map(dict(self.variables))
        except (KeyError, ValueError, IndexError) as exc:
            problems.append(f"url= template cannot be filled from variables=: {exc}")
        if problems:
            raise ConfigurationError(
                f"HTTPSource: {'; '.join(problems)}", problems=tuple(problems)
            )

    async def _fetch(
        self, url: str, params: Mapping[str, str | int] | None
    ) -> tuple[httpx.Response, Any]:
        credential = next(iter(self.headers.values()), None) if self.headers else None
        # Any API: its integers may exceed 64 bits, which only the standard library keeps.
        return await self._get_json(
            url,
            params=params,
            headers=dict(self.headers),
            credential=credential,
            decode=json.loads,
        )

    async def _poll(self, cursor: str | None) -> AsyncIterator[Page]:
        state = load_cursor(cursor, source=self.name)
        value = state.get("value")
        at_value: set[str] = set(state.get("ids", ()))
        first: dict[str, str | int] = dict(self.params)
        if value is not None and self.cursor_param is not None:
            first[self.cursor_param] = value
        params: dict[str, str | int] | None = first
        url: str | None = self.url.format_map(dict(self.variables))
        raw_items: list[Any] = []
        for _ in range(self.max_pages):
            assert url is not None
            response, body = await self._fetch(url, params)
            found = lookup(body, self.items, _MISSING)
            if not isinstance(found, list):
                raise FetchError(
                    f"{self.name}: no list at {self.items or 'the top level'!r} in the answer",
                    source=self.name,
                    retryable=False,
                )
            raw_items.extend(found)
            if not found:
                break
            if self.paging == "link":
                url = response.links.get("next", {}).get("url")
                params = None  # the next link carries every parameter
            elif self.paging == "token":
                token = lookup(body, self.token_path or "")
                if token in (None, ""):
                    break
                params = {**(params or {}), self.token_param: str(token)}
            else:
                break
            if url is None:
                break
        posts: list[tuple[tuple[int, float, str], Post]] = []
        malformed: list[Malformed] = []
        for item in raw_items:
            try:
                post = map_item(item, self.fields, platform=self.platform, source=self.name)
                position = lookup(item, self.cursor_field) if self.cursor_field else None
            except (KeyError, TypeError, ValueError) as exc:
                malformed.append(
                    Malformed(
                        reason=f"{type(exc).__name__}: {exc}",
                        payload=json.dumps(item, ensure_ascii=False, default=str),
                        source=self.name,
                    )
                )
                continue
            order = _order_key(position) if position is not None else (2, 0.0, "")
            if (
                value is not None
                and position is not None
                and self._already(order, post.id, value, at_value)
            ):
                continue
            posts.append((order, post))
        if self.cursor_field is not None:
            posts.sort(key=lambda pair: (pair[0], pair[1].created_at))
        if not posts and not malformed:
            return
        new_cursor: str | None = None
        if self.cursor_field is not None:
            for item_order, post in posts:
                position = lookup(post.raw, self.cursor_field)
                if position is None:
                    continue
                if value is None or item_order > _order_key(value):
                    value, at_value = position, set()
                if item_order == _order_key(value):
                    at_value.add(post.id)
            if value is not None:
                new_cursor = dump_cursor({"value": value, "ids": sorted(at_value)})
        yield Page(posts=[p for _, p in posts], malformed=malformed, cursor=new_cursor)

    @staticmethod
    def _already(order: tuple[int, float, str], post_id: str, value: Any, ids: set[str]) -> bool:
        """Whether an item at *order* was emitted before a cursor at *value* with *ids*."""
        last = _order_key(value)
        return order < last or (order == last and post_id in ids)

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """
        Yield what the API returns past *cursor*, oldest first when a cursor field is set.

        Raises:
            FetchError: The API failed in a way retries did not fix, or its answer has no
                list at *items*.
        """
        async for page in self._follow(cursor, follow=follow):
            yield page
