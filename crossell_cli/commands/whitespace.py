"""xsell whitespace: the families each customer does not own yet, for one account or the book."""

from __future__ import annotations

import difflib

import polars as pl

from ..errors import UsageError
from ..ingest import normalize_id
from ..metrics import whitespace as metric
from ..metrics.flags import forced_bundles
from ..model import MONEY_COLUMNS
from .answer import Answer, Shown, empty, settings_line
from .session import Collected, Plan, Session


def whitespace(
    session: Session, *, account: str | None = None, top: int | None = None, by: str | None = None
) -> Answer:
    settings = session.settings
    # The evidence always comes from the whole book: --where only chooses the accounts listed.
    model, ingested = session.facts(MONEY_COLUMNS, apply_where=False)
    listed = model.accounts.filter(_where(settings.where)).select("account_id") if settings.where else None
    forced = forced_bundles(model, share=settings.thresholds.forced_bundle_share, min_lines=settings.min_base)
    sides: dict[str, pl.LazyFrame] = {"forced": forced.select("base_family", "family")}
    title = "Whitespace"
    noun = "family" if model.level == "family" else "product"
    if account is not None:
        matches = _matches(model.accounts, account)
        sides["matches"] = matches.join(model.accounts.select("account_id", "segment"), on="account_id", how="left")
        chosen = matches.select("account_id")
        sides["owned"] = (
            model.ownership.join(chosen, on="account_id", how="semi")
            .group_by("account_id")
            .agg(pl.col("item").sort().alias("owned"))
        )
        listed = chosen if listed is None else listed.join(chosen, on="account_id", how="semi")
        rows = metric.whitespace(model, min_base=settings.min_base, forced=forced, accounts=listed)
    elif by == "family":
        rows = metric.by_family(metric.whitespace(model, min_base=settings.min_base, forced=forced, accounts=listed))
        title += " by family"
    else:
        # The whole book, largest expected value first: a lazy plan the writer streams.
        rows = metric.whitespace(
            model, min_base=settings.min_base, forced=forced, accounts=listed, order="value", top=top
        )
    if top is not None and (by == "family" or account is not None):
        rows = rows.head(top)

    def finish(got: Collected) -> Shown:
        if got.as_of is None:
            return Shown(
                ("no won line with a date on or before the as-of date: nothing to measure",),
                frame=empty(metric.COLUMNS),
            )
        notes = [
            settings_line(
                settings, got.as_of, dateless=model.dateless, level=model.level, extra=f"min_base {settings.min_base}"
            )
        ]
        bundles = got["forced"]
        if not bundles.is_empty():
            pairs = ", ".join(f"{a} → {b}" for a, b in bundles.iter_rows())
            notes.append(f"forced bundles not used as evidence: {pairs}")
        if account is None:
            return Shown(tuple(notes))
        account_id = resolve_account(account, got["matches"], session)
        frame = got.main.filter(pl.col("account_id") == account_id) if got.main is not None else None
        if frame is not None and frame.is_empty():
            notes.append(f"{account_id} owns no {noun} at {got.as_of}, or already owns every sellable one")
        return Shown(
            tuple(notes),
            frame=frame,
            title=f"Whitespace for {account_id}",
            header=account_header(account_id, got["matches"], got["owned"]),
            header_columns=("account_id", "account_name"),
            table_columns=("family", "score", "expected_value", "rank", "reason"),
        )

    view = ("account_id", "account_name", "family", "score", "expected_value", "rank", "reason")
    plan = Plan(main=rows, sides=sides, model=model, ingested=ingested)
    return Answer(title, plan, finish, streamable=account is None, level=model.level, table_columns=() if by else view)


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
    return difflib.get_close_matches(text, names, n=5, cutoff=0.6)
