"""
Language detection with lingua (the ``lang`` extra).
"""

from __future__ import annotations

from typing import Any

import anyio
import attrs

from ..exceptions import ConfigurationError, MissingExtraError
from ..model import Post


__all__ = ["DetectLanguage"]


def _lingua() -> Any:
    try:
        import lingua  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtraError("lingua-language-detector", extra="lang") from exc
    return lingua


@attrs.define(eq=False)
class DetectLanguage:
    """
    A transform writing ``annotations["lang"]`` (ISO 639-1, lower case) and
    ``annotations["lang_confidence"]``, detected with lingua.

    Detection runs in a worker thread, so it never blocks the event loop.

    Args:
        languages: ISO 639-1 codes to choose from (faster and more accurate when you know
            them); every language lingua knows when empty.
        min_confidence: Below this confidence, the language is left unknown.
        overwrite: Detect even when the post carries its own ``lang`` (otherwise that tag
            is copied to the annotation, with confidence 1).
        min_chars: Shorter texts are not detected.

    Raises:
        MissingExtraError: lingua is not installed (``pip install 'socialplug[lang]'``).
    """

    languages: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    min_confidence: float = 0.5
    overwrite: bool = False
    min_chars: int = 12
    _detector: Any = attrs.field(default=None, init=False, repr=False)
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _lingua()  # fail early, at construction, when the extra is missing

    def _build(self) -> Any:
        lingua = _lingua()
        builder_cls = lingua.LanguageDetectorBuilder
        if not self.languages:
            return builder_cls.from_all_languages().build()
        try:
            langs = [
                lingua.Language.from_iso_code_639_1(lingua.IsoCode639_1.from_str(code.lower()))
                for code in self.languages
            ]
        except ValueError as exc:
            raise ConfigurationError(
                f"DetectLanguage: unknown language in {self.languages}"
            ) from exc
        if len(langs) < 2:
            raise ConfigurationError("DetectLanguage: give at least two languages (or none)")
        return builder_cls.from_languages(*langs).build()

    def detect(self, text: str, /) -> tuple[str | None, float]:
        """Detect the language of *text* synchronously: ``(code or None, confidence)``."""
        if len(text.strip()) < self.min_chars:
            return None, 0.0
        if self._detector is None:
            self._detector = self._build()
        values = self._detector.compute_language_confidence_values(text)
        if not values:
            return None, 0.0
        best = values[0]
        if best.value < self.min_confidence:
            return None, float(best.value)
        return best.language.iso_code_639_1.name.lower(), float(best.value)

    async def __call__(self, post: Post, /) -> Post:
        """Return *post* with its language annotated."""
        if post.lang and not self.overwrite:
            return post.annotate(lang=post.lang.lower(), lang_confidence=1.0)
        if self._detector is None:
            async with self._lock:
                if self._detector is None:
                    self._detector = await anyio.to_thread.run_sync(self._build)
        lang, confidence = await anyio.to_thread.run_sync(self.detect, post.text)
        return post.annotate(lang=lang, lang_confidence=round(confidence, 4))
