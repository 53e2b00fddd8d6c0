"""Building text in a plan: ``fmt`` is ``pl.format`` without its streaming-engine panic; and
``CONTROL_ESCAPES``, how a value quoted in a message shows its line breaks and tabs.

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


# A carriage return, line break or tab inside a value quoted in a message, shown as \r, \n, \t:
# printed as itself it moves the terminal's cursor (or a table shows a blank), and its cause
# stays unseen. (A message's value column keeps the raw text.)
CONTROL_ESCAPES = (("\r", "\\r"), ("\n", "\\n"), ("\t", "\\t"))


def shown_controls(text: str) -> str:
    """``text`` with ``CONTROL_ESCAPES`` applied (the same as rule messages' '{v}')."""
    for char, escaped in CONTROL_ESCAPES:
        text = text.replace(char, escaped)
    return text
