"""The library behind each command: options in, an Answer (a plan to collect once) out.

session.py   settings, the lazy book, the shared model, the one collect and its checks
answer.py    Answer (what a command hands the CLI) and Shown (what it shows after the collect)
attach.py, whitespace.py, backtest.py, expansion.py, timing.py, retention.py, flags.py, summary.py,
validate.py  one command each: which metric plans, which notes
report.py    every metric in one plan, finished into the record the report renderers draw
"""

from .answer import Answer, Shown
from .attach import attach
from .backtest import backtest
from .expansion import expansion
from .flags import flags
from .report import Report, report
from .retention import retention
from .session import Collected, Plan, Session, account_line, collect, open_session, strict_failure
from .summary import summary
from .timing import timing
from .validate import validate
from .whitespace import whitespace

__all__ = [
    "Answer",
    "Collected",
    "Plan",
    "Report",
    "Session",
    "Shown",
    "account_line",
    "attach",
    "backtest",
    "collect",
    "expansion",
    "flags",
    "open_session",
    "report",
    "retention",
    "strict_failure",
    "summary",
    "timing",
    "validate",
    "whitespace",
]
