"""Building text in a plan: ``fmt`` is ``pl.format`` without its streaming-engine panic; and
``CONTROL_ESCAPES``, how a value quoted in a message shows its line breaks, tabs and invisible
characters.

Polars 2.1's ``pl.format`` can panic (``binview/mod.rs: assertion failed: i < self.len()``)
under the streaming engine on some filtered frames; ``concat_str`` over the same pieces
does not. ``fmt`` keeps ``pl.format``'s template syntax and null rule (any null input →
null) and builds the ``concat_str``.
"""

from __future__ import annotations

import polars as pl


def fmt(template: str, *args: pl.Expr | str) -> pl.Expr:
    """``fmt("{} → {}", "base", "item")``: a String expression; null when any input is null."""
    pieces = template.split("{}")
    if len(pieces) - 1 != len(args):
        raise ValueError(f"template {template!r} has {len(pieces) - 1} placeholders, got {len(args)} arguments")
    parts: list[pl.Expr] = []
    for i, arg in enumerate(args):
        if pieces[i]:
            parts.append(pl.lit(pieces[i]))
        parts.append((pl.col(arg) if isinstance(arg, str) else arg).cast(pl.String))
    if pieces[-1]:
        parts.append(pl.lit(pieces[-1]))
    if not parts:
        return pl.lit(template)
    return pl.concat_str(parts, ignore_nulls=False)


# Invisible characters: a soft hyphen, the Arabic letter mark, the Mongolian vowel separator,
# zero-width spaces and joiners, direction marks, embeddings and isolates, word joiners, a
# byte-order mark. 'Core' and 'Core\u200e' read the same to a person and differ to a computer.
FORMAT_CHARACTERS = (
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
# FORMAT_CHARACTERS as a character class of the regex engine Polars uses
FORMAT_CHARACTERS_CLASS = "[" + "".join(f"\\x{{{ord(char):04x}}}" for char in FORMAT_CHARACTERS) + "]"

# A carriage return, line break or tab inside a value quoted in a message, shown as \r, \n, \t:
# printed as itself it moves the terminal's cursor (or a table shows a blank), and its cause
# stays unseen. An invisible character is shown as its code: '7\u200b0' (a zero-width space
# between the digits) read as "'70' is not a number". (A message's value column keeps the raw
# text.)
INVISIBLE_ESCAPES = tuple((char, f"\\u{ord(char):04x}") for char in FORMAT_CHARACTERS)
CONTROL_ESCAPES = (("\r", "\\r"), ("\n", "\\n"), ("\t", "\\t"), *INVISIBLE_ESCAPES)


def shown_controls(text: str) -> str:
    """``text`` with ``CONTROL_ESCAPES`` applied (the same as rule messages' '{v}')."""
    for char, escaped in CONTROL_ESCAPES:
        text = text.replace(char, escaped)
    return text


def shown_invisible(text: str) -> str:
    r"""``text`` with its invisible characters shown by their code (INVISIBLE_ESCAPES), \u200b: a
    terminal table's cell of '7\u200b0' otherwise reads 70."""
    for char, escaped in INVISIBLE_ESCAPES:
        if char in text:
            text = text.replace(char, escaped)
    return text
