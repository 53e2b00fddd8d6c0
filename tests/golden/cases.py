"""The golden cases: every command's CSV output on sample_data/ and on the six example configs.

Each case is (dataset, name, argv). ``python -m tests.golden.capture`` writes
``tests/golden/<dataset>/<name>.csv`` (the command's stdout, byte for byte; a large one as
a digest and its first lines) and records
every exit code in ``tests/golden/exit_codes.json``; ``tests/test_golden.py`` runs the
cases again and compares. A golden file changes only in a commit that means to change
that number, with the reason in the commit message.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent
SAMPLE = REPO / "sample_data"
EXAMPLES = REPO / "examples"
REALDATA = REPO.parent / "shared" / "realdata"

SAMPLE_CASES: list[tuple[str, list[str]]] = [
    ("validate", ["validate"]),
    ("summary", ["summary"]),
    ("summary-window-90d", ["summary", "--window", "90d"]),
    ("attach", ["attach"]),
    ("attach-all", ["attach", "--all"]),
    ("attach-base-core", ["attach", "--base", "Core"]),
    ("attach-matrix", ["attach", "--matrix"]),
    ("attach-product", ["attach", "--level", "product"]),
    ("attach-exclude-bundles", ["attach", "--exclude-bundles"]),
    ("attach-enterprise", ["attach", "--where", "segment=Enterprise"]),
    ("attach-as-of-2024-06-30", ["attach", "--as-of", "2024-06-30"]),
    ("whitespace", ["whitespace"]),
    ("whitespace-by-family", ["whitespace", "--by", "family"]),
    ("whitespace-account", ["whitespace", "--account", "A-000042"]),
    ("whitespace-top-20", ["whitespace", "--top", "20"]),
    ("whitespace-product", ["whitespace", "--level", "product", "--top", "50"]),
    ("expansion", ["expansion"]),
    ("expansion-year-segment", ["expansion", "--period", "year", "--by", "segment"]),
    ("expansion-month", ["expansion", "--period", "month"]),
    ("expansion-rep", ["expansion", "--by", "rep"]),
    ("expansion-family", ["expansion", "--by", "family"]),
    ("expansion-bookings", ["expansion", "--mode", "bookings"]),
    ("timing", ["timing"]),
    ("timing-land-family", ["timing", "--by", "land_family"]),
    ("timing-cross-family", ["timing", "--by", "cross_family"]),
    ("timing-pair", ["timing", "--by", "pair"]),
    ("timing-segment", ["timing", "--by", "segment"]),
    ("timing-cohort", ["timing", "--by", "cohort"]),
    ("flags", ["flags"]),
    ("flags-by-rep", ["flags", "--by", "rep"]),
    ("retention", ["retention"]),
    ("retention-2y", ["retention", "--window", "2y"]),
]

# Whitespace on Online Retail is exact since issue 11 (no pruning, one total order): its
# --top 20 is golden too, sharing its fit (the fit cache) with test_realdata's by-family run.
EXAMPLE_COMMANDS: list[tuple[str, list[str]]] = [
    ("validate", ["validate"]),
    ("summary", ["summary"]),
    ("attach", ["attach"]),
    ("whitespace-top-20", ["whitespace", "--top", "20"]),
    ("expansion", ["expansion"]),
    ("timing", ["timing"]),
    ("timing-cohort", ["timing", "--by", "cohort"]),
    ("flags", ["flags"]),
    ("retention", ["retention"]),
]
EXAMPLE_SKIP: set[tuple[str, str]] = set()
EXAMPLES_NAMES = (
    "aws_saas_sales",
    "crm_sales_opportunities",
    "maven_fuzzy_factory",
    "online_retail",
    "ravenstack",
    "telco_churn",
)


def cases() -> list[tuple[str, str, list[str]]]:
    out = [("sample", name, [*argv, "--data", str(SAMPLE)]) for name, argv in SAMPLE_CASES]
    for example in EXAMPLES_NAMES:
        for name, argv in EXAMPLE_COMMANDS:
            if (example, name) in EXAMPLE_SKIP:
                continue
            out.append((example, name, [*argv, "--config", str(EXAMPLES / example / "xsell.yaml")]))
    return out


# Outputs larger than this are kept as a digest (sha256, bytes, lines) plus their first
# HEAD_LINES lines, so a diff still shows where a change starts: Online Retail's attach list
# alone is 860 MB.
MAX_INLINE = 1_000_000
HEAD_LINES = 200


def machine_digits(name: str) -> bool:
    """An output of the whitespace model. Its scores come out of linear algebra whose library
    (OpenBLAS) picks kernels for the CPU it runs on, so their last one or two of 16 digits
    differ from one machine to another (up to 5e-15 relative between the machine these files
    were written on and an AMD EPYC). Such a case is compared number by number to 1e-12, and
    a large one's digest is taken over its numbers rounded to 6 significant digits."""
    return name.startswith("whitespace")


def golden_path(dataset: str, name: str) -> Path:
    return GOLDEN / dataset / f"{name}.csv"


def digest_path(dataset: str, name: str) -> Path:
    return GOLDEN / dataset / f"{name}.sha256"


def head_path(dataset: str, name: str) -> Path:
    return GOLDEN / dataset / f"{name}.head.csv"
