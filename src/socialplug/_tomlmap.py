"""
Where each key of a TOML document is written: a line number per key path.

``tomllib`` parses but keeps no positions, so this scans the text the way a reader would:
table headers (``[a.b]``, ``[[a]]`` with their array index), ``key = value`` lines (dotted keys
too) and, inside values, inline tables and arrays spanning lines. It never fails: what it
cannot place falls back to the nearest enclosing key that it could.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence


__all__ = ["KeyPath", "TomlMap"]

KeyPath = tuple[str | int, ...]

_BARE = r"[A-Za-z0-9_-]+"
_PART = rf"(?:{_BARE}|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")


def _split(dotted: str) -> tuple[str, ...]:
    parts = re.findall(_PART, dotted)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def _strip_strings(line: str) -> str:
    """The line with string contents blanked and the comment removed (brackets stay real)."""
    out = []
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                out.append("  ")
                i += 2
                continue
            if line.startswith(quote, i):
                out.append(quote)
                i += len(quote)
                quote = ""
                continue
            out.append(" ")
        elif ch == "#":
            break
        elif ch in "\"'":
            quote = ch * 3 if line.startswith(ch * 3, i) else ch
            out.append(quote)
            i += len(quote)
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


class TomlMap:
    """
    Line numbers of the keys of one TOML text.

    ``line(("sources", 1, "type"))`` is the line of ``type`` in the second ``[[sources]]``
    table; a path that was not written (a default) gives the line of its nearest written
    parent, or ``None``.
    """

    def __init__(self, text: str, /) -> None:
        self.lines: dict[KeyPath, int] = {}
        self._scan(text.splitlines())

    def line(self, path: Sequence[str | int], /) -> int | None:
        """The line where *path* (or its nearest written parent) is written."""
        key = tuple(path)
        while key:
            found = self.lines.get(key)
            if found is not None:
                return found
            key = key[:-1]
        return None

    def _note(self, path: KeyPath, lineno: int) -> None:
        self.lines.setdefault(path, lineno)

    def _scan(self, lines: list[str]) -> None:
        table: KeyPath = ()
        arrays: dict[tuple[str, ...], int] = {}
        value_path: KeyPath | None = None  # the key whose value continues on later lines
        stack: list[list[int]] = []  # per open bracket: [kind, index] for arrays
        keys_stack: list[KeyPath] = []
        multiline = ""
        for lineno, raw in enumerate(lines, start=1):
            if multiline:
                if multiline in raw:
                    multiline = ""
                continue
            if value_path is None:
                header = _HEADER.match(raw)
                if header:
                    names = _split(header.group(2))
                    if header.group(1) == "[[":
                        index = arrays.get(names, -1) + 1
                        arrays[names] = index
                        # Arrays of tables nested under an array-of-tables element.
                        table = (*self._resolve(names[:-1], arrays), names[-1], index)
                    else:
                        table = self._resolve(names, arrays)
                    for end in range(1, len(table) + 1):
                        self._note(table[:end], lineno)
                    continue
                key = _KEY.match(raw)
                if not key:
                    continue
                path = (*table, *_split(key.group(1)))
                self._note(path, lineno)
                rest = raw[key.end() :]
                value_path = path
                stack = []
                keys_stack = [path]
                text = rest
            else:
                text = raw
            clean = _strip_strings(text)
            for marker in ('"""', "'''"):
                if clean.count(marker) % 2:
                    multiline = marker
            self._value(clean, lineno, stack, keys_stack)
            if not stack:
                value_path = None

    @staticmethod
    def _resolve(names: tuple[str, ...], arrays: dict[tuple[str, ...], int]) -> KeyPath:
        out: list[str | int] = []
        for i in range(len(names)):
            out.append(names[i])
            prefix = names[: i + 1]
            if prefix in arrays:
                out.append(arrays[prefix])
        return tuple(out)

    def _value(self, clean: str, lineno: int, stack: list[list[int]], keys: list[KeyPath]) -> None:
        for tok, start in _tokens(clean):
            if tok == "[":
                stack.append([0, 0])
                keys.append((*keys[-1], 0))
            elif tok == "{":
                stack.append([1, 0])
                keys.append(keys[-1])
                self._note(keys[-1], lineno)
            elif tok in "]}":
                if stack:
                    stack.pop()
                    keys.pop()
            elif tok == ",":
                if stack and stack[-1][0] == 0:
                    stack[-1][1] += 1
                    parent = keys[-2] if len(keys) > 1 else ()
                    keys[-1] = (*parent, stack[-1][1])
                elif stack:
                    keys[-1] = keys[-2] if len(keys) > 1 else keys[-1]
            elif tok == "=" and stack and stack[-1][0] == 1:
                name = _last_key(clean[:start])
                if name is not None:
                    parent = keys[-2] if len(keys) > 1 else ()
                    keys[-1] = (*parent, *name)
                    self._note(keys[-1], lineno)


def _tokens(clean: str) -> Iterator[tuple[str, int]]:
    for i, ch in enumerate(clean):
        if ch in "[]{},=":
            yield ch, i


def _last_key(before: str) -> tuple[str, ...] | None:
    match = re.search(rf"({_DOTTED})\s*$", before)
    return _split(match.group(1)) if match else None
