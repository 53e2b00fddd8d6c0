"""xsell flags: the cross-sells that are not what they seem."""

from __future__ import annotations

from ..errors import ExitCode, UsageError
from ..metrics import flags as metric
from ..model import ALL_COLUMNS
from .answer import Answer, Shown, dateless_message, settings_line
from .session import Collected, Plan, Session

VIEW = ("flag", "severity", "account_id", "family", "amount", "detail", "rep", "booked_at")


def flags(
    session: Session,
    *,
    names: list[str] | None = None,
    severity: str | None = None,
    by: str | None = None,
    fail_on: str | None = None,
    all_findings: bool = False,
) -> Answer:
    settings = session.settings
    # --by rep counts the cross-sell lines the chosen flags mark (all line flags by default)
    mask = metric.line_flag_mask(names, severity) if by == "rep" and (names or severity) else None
    if mask == 0:
        chosen = ", ".join(names or []) + (f" at or above {severity}" if severity else "")
        raise UsageError(
            f"--by rep counts the cross-sell lines a flag marks, and {chosen} marks none",
            hint="choose a line flag: " + ", ".join(metric.LINE_FLAGS) + "; or leave out --by rep to list the findings",
        )
    model, ingested = session.facts(ALL_COLUMNS)
    if model.dateless:
        return Answer("", Plan(model=model, ingested=ingested), lambda _got: Shown(message=dateless_message("flags")))
    t = settings.thresholds
    flag_settings = metric.FlagSettings.of(settings)
    flagged = metric.flagged_lines(model, flag_settings)
    findings = metric.filter_findings(metric.flags(model, flag_settings, flagged), names=names, severity=severity)
    sides = {"counts": findings.group_by("flag").len().sort("flag"), "severities": findings.group_by("severity").len()}
    # Sorted by severity, then amount: the head is the most severe and the largest.
    listed = findings if all_findings else findings.head(metric.SHOWN_BY_DEFAULT)
    main = metric.by_rep(model, flag_settings, flagged, mask=mask) if by == "rep" else listed

    def finish(got: Collected) -> Shown:
        if got.as_of is None:
            # (the main plan's own empty rows: a streamed output has its header already)
            return Shown(("no won line with a date on or before the as-of date: nothing to measure",))
        extra = (
            f"pass-through ≥ {t.pass_through_discount:.0%} off · forced bundle ≥ {t.forced_bundle_share:.0%} · "
            f"early churn ≤ {t.early_churn_days} days · premature ≤ {t.premature_days} days · "
            f"min_base {settings.min_base} · window {settings.window_days} days"
        )
        notes = [settings_line(settings, got.as_of, dateless=model.dateless, level=model.level, extra=extra)]
        counts = got["counts"]
        total = int(counts["len"].sum()) if counts.height else 0
        if total:
            notes.append("findings: " + ", ".join(f"{n:,} {f}" for f, n in counts.iter_rows()))
        announce: tuple[str, ...] = ()
        hidden = total - metric.SHOWN_BY_DEFAULT
        if by is None and not all_findings and hidden > 0:
            announce = (
                f"showing the first {metric.SHOWN_BY_DEFAULT:,} of {total:,} findings (by severity, then amount); "
                f"{hidden:,} more with --all-findings",
            )
        matched = sum(
            n
            for s, n in got["severities"].iter_rows()
            if fail_on is not None and metric.SEVERITY[s] <= metric.SEVERITY[fail_on]
        )
        if matched:
            return Shown(
                tuple(notes),
                code=int(ExitCode.FINDINGS),
                alert=f"{matched:,} of {total:,} findings at or above {fail_on}; --fail-on {fail_on} matched",
                announce=announce,
            )
        return Shown(tuple(notes), announce=announce)

    title = "Flagged cross-sells by rep" if by == "rep" else "Flags"
    plan = Plan(main=main, sides=sides, model=model, ingested=ingested)
    return Answer(title, plan, finish, table_columns=() if by else VIEW, level=model.level)
