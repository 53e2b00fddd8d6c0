"""xsell whitespace: the families each customer does not own yet, for one account or the book."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import polars as pl

from ..errors import UsageError
from ..ingest import normalize_id
from ..metrics import choice
from ..metrics import whitespace as metric
from ..metrics.flags import forced_bundles
from ..model import MONEY_COLUMNS, Model
from .answer import Answer, Shown, settings_line
from .session import Collected, Plan, Session


def whitespace(
    session: Session,
    *,
    account: str | None = None,
    top: int | None = None,
    by: str | None = None,
    sort: str | None = None,
    horizon_days: int = metric.HORIZON_DAYS,
    use_cache: bool = True,
) -> Answer:
    settings = session.settings
    # The evidence always comes from the whole book: --where only chooses the accounts listed.
    # A warm run (same inputs and settings) reads the facts back from the cache, not the export.
    model, ingested = session.facts(MONEY_COLUMNS, apply_where=False, keep=use_cache)
    listed = model.accounts.filter(_where(settings.where)).select("account_id") if settings.where else None
    fitted = fit_cached(session, model, horizon_days=horizon_days, use_cache=use_cache)
    forced = forced_frame(fitted, model, session)
    sides: dict[str, pl.LazyFrame] = {"forced": forced}
    title = "Whitespace"
    noun = "family" if model.level == "family" else "product"
    account_id: str | None = None
    if account is not None:
        # Resolved first, so that only this account is scored (over the cached fit).
        # (in _matches' order: by how it matches, then account_id, for the list of an ambiguous name)
        matches = _matches(model.accounts, account).join(
            model.accounts.select("account_id", "segment"), on="account_id", how="left", maintain_order="left"
        )
        found = matches.collect()
        account_id = resolve_account(account, found, session)
        sides["matches"] = found.lazy()
        chosen = pl.LazyFrame({"account_id": [account_id]}, schema={"account_id": pl.String})
        sides["owned"] = model.ownership_of(chosen).group_by("account_id").agg(pl.col("item").sort().alias("owned"))
        if listed is not None:
            listed = listed.join(chosen, on="account_id", how="semi")
            if listed.collect().is_empty():
                # (otherwise: an empty list under "A1 owns no family, or already owns every
                # sellable one", below the header that shows what A1 owns)
                where = " and ".join(f"{c}={v}" for c, v in settings.where)
                raise UsageError(
                    f"--account {account}: {account_id} is not among the accounts --where {where} keeps",
                    hint="leave --where out to see this account's whitespace, or choose an account it keeps",
                )
        else:
            listed = chosen
    order: metric.Order = "value" if sort == "value" else "score"

    def rows_for(order: metric.Order, top: int | None, reasons: bool = True) -> pl.LazyFrame:
        return scored_rows(model, session, fitted, forced, listed, order=order, top=top, reasons=reasons)

    if account is not None:
        rows = rows_for("value" if sort == "value" else "account", top)
    elif by == "family":
        rows = metric.by_family(rows_for("account", None, reasons=False))
        title += " by family"
    else:
        rows = rows_for(order, top)
    if top is not None and by == "family":
        rows = rows.head(top)

    def finish(got: Collected) -> Shown:
        if got.as_of is None or fitted is None:
            # (the main plan's own empty rows: a streamed output has its header already)
            return Shown(("no won line with a date on or before the as-of date: nothing to measure",))
        ranked = int(fitted.ranked.sum())
        ordering = (
            ("rows by expected_value, then score" if sort == "value" else "rows by score")
            + ", ties by account_id then "
            + noun
        )
        # (a model's score is the chance of being the next purchase; the noisy-or fallback's,
        # the chance of buying it; a book without dates has no horizon)
        meaning = f"probability it is the next {noun} bought" if fitted.theta is not None else "chance it buys it"
        horizon = "" if fitted.co_owned else f", horizon {horizon_days}d"
        extra = (
            f"min_base {settings.min_base} · ranked: every sellable {noun} a customer does not own "
            f"({ranked} {noun if ranked == 1 else _plural(noun)}) · score: {meaning}, {fitted.how}{horizon} · "
            f"{ordering}"
        )
        notes = [settings_line(settings, got.as_of, dateless=model.dateless, level=model.level, extra=extra)]
        bundles = got["forced"]
        if not bundles.is_empty():
            pairs = ", ".join(f"{a} → {b}" for a, b in bundles.iter_rows())
            notes.append(f"forced bundles not used as evidence: {pairs}")
        if account_id is None:
            return Shown(tuple(notes))
        frame = got.main
        if frame is not None and frame.is_empty():
            notes.append(f"{account_id} owns no {noun} at {got.as_of}, or already owns every sellable one")
        shown = ("family", "product_name") if model.level == "product" else ("family",)
        return Shown(
            tuple(notes),
            frame=frame,
            title=f"Whitespace for {account_id}",
            header=account_header(account_id, got["matches"], got["owned"]),
            header_columns=("account_id", "account_name"),
            table_columns=(*shown, "score", "expected_value", "rank", "reason"),
        )

    named = ("family", "product_name") if model.level == "product" else ("family",)
    view = ("account_id", "account_name", *named, "score", "expected_value", "rank", "reason")
    plan = Plan(main=rows, sides=sides, model=model, ingested=ingested)
    return Answer(title, plan, finish, streamable=account is None, level=model.level, table_columns=() if by else view)


def scored_rows(
    model: Model,
    session: Session,
    fitted: choice.Fitted | None,
    forced: pl.LazyFrame,
    listed: pl.LazyFrame | None,
    *,
    order: metric.Order,
    top: int | None,
    reasons: bool = True,
) -> pl.LazyFrame:
    """The whitespace rows as `xsell whitespace` lists them (the report reads the same)."""
    return metric.whitespace(
        model,
        min_base=session.settings.min_base,
        forced=forced,
        accounts=listed,
        order=order,
        top=top,
        fitted=fitted,
        reasons=reasons,
    )


def _plural(noun: str) -> str:
    return "families" if noun == "family" else noun + "s"


def fit_cached(
    session: Session,
    model: Model,
    *,
    horizon_days: int,
    use_cache: bool,
    ranked: Sequence[str] | None = None,
) -> choice.Fitted | None:
    """The whitespace model at T: from the fit cache when the inputs and settings are unchanged.
    ``ranked``: the items it learns to order (default: every sellable item)."""
    from .. import cache

    settings = session.settings
    key = {
        "inputs": cache.fingerprint(session.inputs),
        "settings": repr(settings),
        "horizon": horizon_days,
        "as_of": str(model.known_as_of),
        "ranked": None if ranked is None else sorted(ranked),
    }

    def made() -> choice.Fitted | None:
        fitted = metric.fit(model, min_base=settings.min_base, horizon_days=horizon_days, ranked=ranked)
        if fitted is not None:
            fitted.forced = _forced_pairs(model, session)
            fitted.typical = metric.typical_values(model)
        return fitted

    return cache.fitted(key, made, use=use_cache)


def _forced_pairs(model: Model, session: Session) -> list[tuple[str, str]]:
    settings = session.settings
    frame = forced_bundles(model, share=settings.thresholds.forced_bundle_share, min_lines=settings.min_base)
    rows = frame.select("base_family", "family").sort("base_family", "family").collect().iter_rows()
    return [(str(a), str(b)) for a, b in rows]


def forced_frame(fitted: choice.Fitted | None, model: Model, session: Session) -> pl.LazyFrame:
    """base_family, family: the forced bundles, from the fit when it carries them (a warm run
    does not recount them over the whole book)."""
    pairs = fitted.forced if fitted is not None and fitted.forced is not None else _forced_pairs(model, session)
    return pl.LazyFrame(
        {"base_family": [a for a, _ in pairs], "family": [b for _, b in pairs]},
        schema={"base_family": pl.String, "family": pl.String},
    )


def account_header(account_id: str, matches: pl.DataFrame, owned: pl.DataFrame, most: int = 8) -> str:
    """'A-000042 · Lumen Motors 00042 · Mid-Market · owns Core, Payments' (the first few owned)."""
    row = matches.filter(pl.col("account_id") == account_id).row(0, named=True)
    items = owned.filter(pl.col("account_id") == account_id)["owned"]
    names = list(items[0]) if items.len() else []
    listed = ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")
    parts = [account_id, row.get("account_name"), row.get("segment"), f"owns {listed}" if names else "owns nothing"]
    return " · ".join(str(p) for p in parts if p)


def _where(where: tuple[tuple[str, str], ...]) -> pl.Expr:
    from ..model import where_condition

    return where_condition(where)


def _matches(accounts: pl.LazyFrame, text: str) -> pl.LazyFrame:
    """account_id, account_name, how (0 the id, 1 the whole name, 2 part of the name, any case)."""
    wanted = normalize_id(text)
    typed = text.strip().lower()
    name = pl.col("account_name").str.to_lowercase()
    how = (
        pl.when(pl.col("account_id") == wanted)
        .then(0)
        .when(name == typed)
        .then(1)
        .when(name.str.contains(typed, literal=True))
        .then(2)
    )
    return (
        accounts.select("account_id", "account_name", how.alias("how"))
        .filter(pl.col("how").is_not_null())
        .sort("how", "account_id")
    )


def resolve_account(text: str, matches: pl.DataFrame, session: Session) -> str:
    """The one account ``text`` names: its account_id (exact, Salesforce 15/18 aware), its whole
    name, or the only name holding it (any case); otherwise a UsageError (exit 2, as for any
    bad option value) listing the choices."""
    if not matches.is_empty():
        best = matches.filter(pl.col("how") == matches["how"].min())
        if best.height == 1:
            return str(best["account_id"][0])
        shown = best.select("account_id", "account_name").head(10).iter_rows()
        listing = ", ".join(f"{i} ({n})" if n else str(i) for i, n in shown)
        more = f" and {best.height - 10} more" if best.height > 10 else ""
        raise UsageError(
            f"--account {text}: {best.height} accounts match '{text.strip()}'; use an account_id: {listing}{more}"
        )
    close = _close_accounts(text, session)
    raise UsageError(
        f"--account {text}: no account with that id or name",
        hint=("close matches: " + ", ".join(close)) if close else "check the id in the accounts table",
    )


def _close_accounts(text: str, session: Session) -> list[str]:
    """Ids and names close to ``text`` (a second, small read of the accounts: only on this error)."""
    model = session.model(apply_where=False)
    known = model.accounts.select("account_id", "account_name").collect(engine="streaming")
    names = known["account_name"].drop_nulls().to_list() + known["account_id"].to_list()
    # An id written with another number of leading zeros (A-00042 for A-000042) is the
    # likeliest slip, and one edit away like A-003042: it goes first.
    same_number = [n for n in names if _unpadded(n) == _unpadded(text)]
    close = difflib.get_close_matches(text, names, n=5, cutoff=0.6)
    return (same_number + [n for n in close if n not in same_number])[:5]


def _unpadded(text: str) -> str:
    """``text`` without the leading zeros of its numbers, case folded: A-000042 -> a-42."""
    return re.sub(r"(?<!\d)0+(?=\d)", "", text.strip().casefold())
