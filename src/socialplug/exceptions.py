"""
Every exception socialplug raises on purpose.

The tree::

    SocialplugError(Exception)
    ├── ConfigurationError(SocialplugError, ValueError)   wrong wiring or arguments, before any I/O
    ├── MissingExtraError(SocialplugError, ImportError)   an optional dependency is not installed
    ├── PluginError                                       an entry point failed to load
    │   └── PluginNotFoundError(PluginError, LookupError)
    ├── SourceError                 .source
    │   ├── FetchError              .status_code, .retryable
    │   │   ├── RateLimitedError    .retry_after
    │   │   └── AuthenticationError
    │   └── DecodeError             .payload
    ├── SinkError                   .sink (the key in ``Pipeline.sinks``)
    │   └── DeliveryError           .retryable, .retry_after, .status_code
    ├── RoutingError                .target
    └── StateError                  .key

Callers catch these, never ``httpx`` or driver exceptions: boundaries translate with
``raise ... from exc``. Messages name the component that failed and never contain secrets
(tokens, passwords, webhook URLs).
"""

from __future__ import annotations

from collections.abc import Sequence


__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "DecodeError",
    "DeliveryError",
    "FetchError",
    "MissingExtraError",
    "PluginError",
    "PluginNotFoundError",
    "RateLimitedError",
    "RoutingError",
    "SinkError",
    "SocialplugError",
    "SocialplugWarning",
    "SourceError",
    "StateError",
]


class SocialplugError(Exception):
    """
    Base class of every exception socialplug raises on purpose.
    """


class SocialplugWarning(UserWarning):
    """
    Base class of socialplug's warnings, so they can be filtered together.
    """


class ConfigurationError(SocialplugError, ValueError):
    """
    A pipeline or component was wired wrongly; raised before any I/O.

    Attributes:
        problems: Every problem found, not just the first.
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


class MissingExtraError(SocialplugError, ImportError):
    """
    An optional dependency is missing; the message names the extra that installs it.
    """

    def __init__(self, package: str, *, extra: str) -> None:
        super().__init__(
            f"{package!r} is not installed; install it with: pip install 'socialplug[{extra}]'"
        )
        self.package = package
        self.extra = extra


class PluginError(SocialplugError):
    """
    An entry-point plugin could not be loaded or does not conform.
    """


class PluginNotFoundError(PluginError, LookupError):
    """
    No plugin is registered under the requested name.
    """


class SourceError(SocialplugError):
    """
    A source failed.

    Attributes:
        source: The name of the source.
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class FetchError(SourceError):
    """
    A request of a source failed.

    Attributes:
        status_code: The HTTP status, if there was a response.
        retryable: Whether trying again later may succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str,
        status_code: int | None = None,
        retryable: bool,
    ) -> None:
        super().__init__(message, source=source)
        self.status_code = status_code
        self.retryable = retryable


class RateLimitedError(FetchError):
    """
    The platform asked us to slow down (HTTP 429 or an exhausted rate-limit budget).

    Attributes:
        retry_after: Seconds to wait before the next request, if the platform said.
    """

    def __init__(self, message: str, *, source: str, retry_after: float | None) -> None:
        super().__init__(message, source=source, status_code=429, retryable=True)
        self.retry_after = retry_after


class AuthenticationError(FetchError):
    """
    The platform refused our credentials (HTTP 401/403). Never retried.
    """

    def __init__(self, message: str, *, source: str, status_code: int | None = None) -> None:
        super().__init__(message, source=source, status_code=status_code, retryable=False)


class DecodeError(SourceError):
    """
    A payload could not be turned into a post.

    Attributes:
        payload: What was received, as received.
    """

    def __init__(self, message: str, *, source: str, payload: object = None) -> None:
        super().__init__(message, source=source)
        self.payload = payload


class SinkError(SocialplugError):
    """
    A sink failed.

    Attributes:
        sink: The sink's key in ``Pipeline.sinks``; the runtime fills it in.
    """

    def __init__(self, message: str, *, sink: str | None = None) -> None:
        super().__init__(message)
        self.sink = sink


class DeliveryError(SinkError):
    """
    A batch could not be delivered.

    Raise it with ``retryable=True`` for transient failures (connect errors, timeouts, 429,
    5xx) so the runtime retries with backoff, honouring *retry_after*; with
    ``retryable=False`` the batch is dead-lettered at once.

    Attributes:
        retryable: Whether trying again later may succeed.
        retry_after: Seconds the destination asked us to wait, if it said.
        status_code: The HTTP status, if there was a response.
        delivered: Keys of the batch's deliveries that the destination did accept before the
            failure; the runtime counts them as delivered and dead-letters only the rest.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status_code: int | None = None,
        sink: str | None = None,
        delivered: Sequence[str] = (),
    ) -> None:
        super().__init__(message, sink=sink)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status_code = status_code
        self.delivered = tuple(delivered)


class RoutingError(SocialplugError):
    """
    A router named a route or sink that does not exist.

    Attributes:
        target: The unknown name.
    """

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target


class StateError(SocialplugError):
    """
    The state store failed or holds data it cannot read.

    Attributes:
        key: What was being read or written.
    """

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key
