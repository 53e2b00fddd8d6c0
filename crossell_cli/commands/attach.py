"""xsell attach: the pair list, one base's targets, or the A × B matrix."""

from __future__ import annotations

import difflib

import polars as pl

from ..errors import UsageError
from ..metrics import attach as metric
from ..metrics.flags import forced_bundles
from ..model import CORE_COLUMNS
from .answer import NOTHING, Answer, Shown, settings_line
from .session import Collected, Plan, Session

# What a person sees first on a narrow terminal: the pair, its base, the rate, the part a
# sales team can claim, then the interval and lift (the rest is named as not shown).
VIEW = (
    "base_family",
    "target_family",
    "base_accounts",
    "both_accounts",
    "attach_rate",
    "cross_sell_attach",
    "ci_low",
    "ci_high",
    "lift",
    "flag",
)


def attach(
    session: Session,
    *,
    base: str | None = None,
    matrix: bool = False,
    show_all: bool = False,
    exclude_bundles: bool = False,
) -> Answer:
    settings = session.settings
    model, ingested = session.facts(CORE_COLUMNS)
    min_base = settings.min_base
    bundles = forced_bundles(model, share=settings.thresholds.forced_bundle_share, min_lines=min_base)
    owners = metric.owners(model)
    bases: pl.LazyFrame | None = None
    if base is not None:
        bases = metric.chosen_bases(model, [base])
    elif matrix:  # a grid: every cell, zeros included
        bases = (owners if show_all else owners.filter(pl.col("owners") >= min_base)).select("item")
    pairs = metric.attach_pairs(model, forced=bundles, min_base=None if show_all else min_base, bases=bases)
    shown = metric.visible_pairs(pairs, min_base=min_base, show_all=show_all, exclude_bundles=exclude_bundles)
    sides = {
        "head": metric.headline(model.owned),
        "owners": owners.sort("item"),
        "bundles": bundles.select("base_family", "family"),
    }
    if bases is not None:
        sides["bases"] = bases
    noun = "families" if model.level == "family" else "products"

    def finish(got: Collected) -> Shown:
        if got.as_of is None:
            # (the main plan's own empty rows: a streamed output has its header already)
            return Shown(notes=("no dated won line: nothing to measure",))
        chosen = None
        if base is not None:
            found = got["bases"]["item"].to_list()
            if not found:
                raise _unknown_item(base, got["owners"]["item"].to_list(), model.level)
            chosen = found[0]
        notes = [
            settings_line(
                settings,
                got.as_of,
                dateless=model.dateless,
                level=model.level,
                extra=f"min_base {min_base}" + ("" if not show_all else " (--all)"),
            ),
            headline_line(got["head"], noun),
        ]
        owner_counts = got["owners"]
        small = owner_counts.filter(pl.col("owners") < min_base).height if base is None else 0
        if small and not show_all:
            notes.append(f"pairs from {small} {noun} with fewer than {min_base} customers are hidden; --all shows them")
        forced = got["bundles"]
        if not forced.is_empty():
            listed = ", ".join(f"{a} → {b}" for a, b in forced.iter_rows())
            notes.append(
                f"forced bundle{'s' if forced.height > 1 else ''} (flag column): {listed}"
                + ("; dropped by --exclude-bundles" if exclude_bundles else "; --exclude-bundles drops them")
            )
        frame = got.main
        # (said on stderr too when the output is a file or a pipe: an empty CSV needs a reason)
        announce: tuple[str, ...] = ()
        if chosen is not None and frame is not None and frame.is_empty() and not show_all:
            announce = (f"{chosen} has fewer than {min_base} customers; --all shows its pairs anyway",)
        view = VIEW if not forced.is_empty() and not exclude_bundles else VIEW[:-1]
        if matrix and frame is not None:
            taken = sorted({"base_family", "base_accounts"} & (set(frame["base_family"]) | set(frame["target_family"])))
            if taken:
                # (a table cannot hold two columns of one name)
                raise UsageError(
                    f"--matrix: a {model.level} is named '{taken[0]}', the name of the matrix's own first columns",
                    hint="use the pair list (leave --matrix out), or rename it with families: in xsell.yaml",
                )
            grid = metric.matrix(frame)
            kinds = {c: "rate" for c in grid.columns if c not in ("base_family", "base_accounts")}
            return Shown(tuple(notes), frame=grid, table_columns=(), kinds=kinds)
        title = f"Attach rates from {chosen}" if chosen else "Attach rates"
        return Shown(tuple(notes), title=title, table_columns=view, announce=announce)

    title = "Attach rate matrix (row = base, column = target)" if matrix else "Attach rates"
    plan = Plan(main=shown, sides=sides, model=model, ingested=ingested)
    # --base names a family the data must hold: checked after the collect, so its short list
    # is not streamed (a mistyped family would leave a header on stdout before the error).
    return Answer(title, plan, finish, streamable=not matrix and base is None, level=model.level)


def headline_line(head: pl.DataFrame, noun: str) -> str:
    row = head.row(0, named=True)
    if not row["customers"]:
        return "no customers at the as-of date"
    return (
        f"{row['customers']:,} customers · multi-product rate {row['multi_product_rate'] * 100:.1f}% "
        f"(own 2+ {noun}) · {row['items_per_customer']:.2f} {noun} per customer"
    )


def _unknown_item(name: str, items: list[str], level: str) -> UsageError:
    close = difflib.get_close_matches(name, items, n=3, cutoff=0.4)
    noun = "family" if level == "family" else "product"
    return UsageError(
        f"--base {name}: no {noun} of that name",
        hint=("did you mean " + " or ".join(repr(c) for c in close) + "?")
        if close
        else f"known: {', '.join(items[:20])}",
    )


__all__ = ["NOTHING", "attach"]
