"""The library behind each command: options in, an Answer (a plan to collect once) out.

session.py   settings, the lazy book, the shared model, the one collect and its checks
answer.py    Answer (what a command hands the CLI) and Shown (what it shows after the collect)
attach.py, whitespace.py, backtest.py, expansion.py, timing.py, retention.py, flags.py, summary.py,
validate.py  one command each: which metric plans, which notes
report.py    every metric in one plan, finished into the record the report renderers draw

Nothing is imported here: the CLI imports the one command it runs (``commands.attach``…), so
`xsell attach` does not load numpy and the whitespace model (0.1–0.15 s of start-up).
"""
