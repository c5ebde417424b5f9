"""OCTET STRING values as operators read them: text when printable, MAC addresses as hex pairs."""

from __future__ import annotations

import re

#: bytes that make an OCTET STRING binary rather than text: controls other than tab, newline
#: and carriage return, and DEL
_NOT_TEXT = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text_of(data: bytes) -> str | None:
    """The bytes as text when they are printable UTF-8 (tabs and newlines allowed), else None.
    A single trailing NUL, which many agents append to C strings, is not part of the text."""
    if data.endswith(b"\x00"):
        data = data[:-1]
    if _NOT_TEXT.search(data):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.isascii():  # every ASCII character left is printable, or a tab or newline
        return text
    return text if all(c.isprintable() or c in "\t\n\r" for c in text) else None


def mac(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)
