"""Benchmark xsell against SPEC §4 ("Performance bar").

SPEC §4: on a synthetic book from ``xsell sample`` (1 000 000 accounts, ~10 000 000
line items, 40 families), on a 2-core machine,

* ``xsell attach`` end to end stays within 1.5x the time Polars alone needs to read
  the line-items file, and beats an equivalent hand-written DuckDB SQL query;
* ``xsell report`` (every metric) — here: every command — within 3x of that read;
* peak memory within 2x of the read's.

Every measurement is a separate child process (wall time from ``time.perf_counter``
around ``Popen`` + ``os.wait4``, peak RSS from that child's own ``ru_maxrss``),
repeated ``--repeat`` times; medians are reported. Run from the repository root:

    .venv/bin/python benchmarks/run.py --accounts 100000 --repeat 3

Dependencies: the standard library, polars and duckdb (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Importing Polars writes its own allocator settings into os.environ (_RJEM_MALLOC_CONF),
# which every child would inherit; children get the environment a user's shell would give.
_USER_MALLOC_CONF = os.environ.get("_RJEM_MALLOC_CONF")

import polars as pl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "benchmarks" / "data"
DEFAULT_OUT = ROOT / "benchmarks" / "out" / "results.csv"

TABLES = ("accounts", "products", "line_items")
# Columns kept as text in the Parquet copies (IDs must never become numbers).
ID_COLUMNS = ("line_id", "account_id", "product_id", "contract_id")
COMMANDS = ("attach", "whitespace", "expansion", "timing", "flags", "retention", "summary", "validate", "report")
OK_EXIT = {0, 65}  # validate exits 65 when rows are rejected: that is its job, not a failure.
MIN_BASE = 10  # xsell's default min_base: pairs with a smaller base are hidden without --all.

# SPEC §4 targets, as ratios to the Polars read of the same line-items file.
ATTACH_TIME_TARGET = 1.5
OTHER_TIME_TARGET = 3.0
RSS_TARGET = 2.0

FLOOR = "polars read"
PEER = "duckdb attach"

# The floor: Python start-up + Polars import + reading the line-items file, as in xsell.
FLOOR_CODE = """\
import sys
import polars as pl
path = sys.argv[1]
df = pl.read_parquet(path) if path.endswith(".parquet") else pl.read_csv(path)
print(df.height)
"""

# The peer: one DuckDB query, its result written to a CSV so that nothing is optimised away.
PEER_CODE = """\
import sys
import duckdb
con = duckdb.connect()
con.execute(f"SET threads TO {int(sys.argv[1])}")
con.execute("SET enable_progress_bar = false")
con.execute(open(sys.argv[2], encoding="utf-8").read())
print(duckdb.__version__)
"""

# Attach pairs at T as SPEC §2 defines them, by hand, in one statement.
#   T            = max(booked_at, start_date) over won and lost lines
#   won line     = stage 'won', booked on or before T
#   active at T  = start_date <= T and (end_date is null or T < end_date); start_date defaults to booked_at
#   family       = products.family, else the product_id
#   owns         = an active won line of the family at T; customers = accounts owning >= 1 family
#   first line   = the family's earliest won line (booked <= T), the smallest contract that day
#   co_booked    = B's first line on the same day or contract as A's first; else after / before
#   universe     = families of won lines and of the products table; pairs with base < min_base hidden
ATTACH_SQL = """\
WITH li AS (
    SELECT account_id, product_id, contract_id, booked_at,
           coalesce(start_date, booked_at) AS start_date, end_date, stage
    FROM {line_items}
),
pr AS (
    SELECT product_id, coalesce(family, product_id) AS family FROM {products}
),
as_of AS (
    SELECT max(greatest(booked_at, start_date)) AS t
    FROM li WHERE stage IN ('won', 'lost')
),
won AS (
    SELECT li.account_id, coalesce(pr.family, li.product_id) AS family, li.contract_id,
           li.booked_at, li.start_date, li.end_date
    FROM li LEFT JOIN pr USING (product_id), as_of
    WHERE li.stage = 'won' AND li.booked_at <= as_of.t
),
owned AS (
    SELECT DISTINCT account_id, family
    FROM won, as_of
    WHERE won.start_date <= as_of.t AND (won.end_date IS NULL OR as_of.t < won.end_date)
),
first_day AS (
    SELECT account_id, family, min(booked_at) AS first_date FROM won GROUP BY account_id, family
),
firsts AS (
    SELECT f.account_id, f.family, f.first_date, min(w.contract_id) AS first_contract
    FROM first_day f
    JOIN won w ON w.account_id = f.account_id AND w.family = f.family AND w.booked_at = f.first_date
    GROUP BY f.account_id, f.family, f.first_date
),
owned_firsts AS (
    SELECT o.account_id, o.family, f.first_date, f.first_contract
    FROM owned o JOIN firsts f USING (account_id, family)
),
pairs AS (
    SELECT a.family AS base_family, b.family AS target_family,
           count(*) AS both_accounts,
           count(*) FILTER (WHERE a.first_date = b.first_date
                            OR coalesce(a.first_contract = b.first_contract, false)) AS co_booked,
           count(*) FILTER (WHERE NOT (a.first_date = b.first_date
                                       OR coalesce(a.first_contract = b.first_contract, false))
                            AND b.first_date > a.first_date) AS cross_sold_after,
           count(*) FILTER (WHERE NOT (a.first_date = b.first_date
                                       OR coalesce(a.first_contract = b.first_contract, false))
                            AND b.first_date < a.first_date) AS "before"
    FROM owned_firsts a JOIN owned_firsts b ON a.account_id = b.account_id AND a.family <> b.family
    GROUP BY a.family, b.family
),
owners AS (SELECT family, count(*) AS owners FROM owned GROUP BY family),
customers AS (SELECT count(DISTINCT account_id) AS customers FROM owned),
universe AS (SELECT family FROM won UNION SELECT family FROM pr),
grid AS (
    SELECT u1.family AS base_family, u2.family AS target_family,
           coalesce(o1.owners, 0) AS n, coalesce(p.both_accounts, 0) AS k,
           coalesce(o2.owners, 0) AS target_accounts, c.customers,
           coalesce(p.co_booked, 0) AS co_booked, coalesce(p.cross_sold_after, 0) AS cross_sold_after,
           coalesce(p."before", 0) AS "before"
    FROM universe u1 JOIN universe u2 ON u1.family <> u2.family
    LEFT JOIN owners o1 ON o1.family = u1.family
    LEFT JOIN owners o2 ON o2.family = u2.family
    LEFT JOIN pairs p ON p.base_family = u1.family AND p.target_family = u2.family
    CROSS JOIN customers c
),
rates AS (
    SELECT *,
           CASE WHEN n > 0 THEN k / n END AS p,
           1.959963984540054 AS z,
           CASE WHEN customers > 0 THEN target_accounts / customers END AS target_rate
    FROM grid
),
wilson AS (
    SELECT *,
           CASE WHEN n > 0 THEN (p + z * z / (2 * n)) / (1 + z * z / n) END AS centre,
           CASE WHEN n > 0 THEN z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n) END AS half
    FROM rates
)
SELECT base_family, target_family,
       n AS base_accounts, k AS both_accounts, p AS attach_rate,
       CASE WHEN n = 0 THEN NULL WHEN k = 0 THEN 0.0 ELSE greatest(centre - half, 0.0) END AS ci_low,
       CASE WHEN n = 0 THEN NULL WHEN k = n THEN 1.0 ELSE least(centre + half, 1.0) END AS ci_high,
       target_accounts, target_rate,
       CASE WHEN target_rate > 0 THEN p / target_rate END AS lift,
       co_booked, cross_sold_after, "before",
       CASE WHEN n > 0 THEN cross_sold_after / n END AS cross_sell_attach
FROM wilson
WHERE n >= {min_base}
ORDER BY attach_rate DESC NULLS LAST, base_accounts DESC, base_family, target_family
"""
PEER_INCLUDES = "peer includes: co_booked / cross_sold_after / before split = yes; forced_bundle flag = no"

# The wide book (issue 6): UCI Online Retail at product level, as examples/online_retail does it.
WIDE = "retail"
DEFAULT_WIDE = ROOT.parent / "shared" / "realdata" / "online_retail" / "online_retail_2010-12_2011-12.csv"
WIDE_CONFIG = ROOT / "examples" / "online_retail" / "xsell.yaml"
WIDE_VS_DUCKDB_TARGET = 1 / 3  # at least 3x faster than the all-pairs DuckDB query
WIDE_RSS_TARGET_MB = 2048.0  # peak RSS under 2 GB
WIDE_FLOOR_CODE = """\
import sys
import polars as pl
print(pl.read_csv(sys.argv[1], infer_schema_length=None).height)
"""
# Every product pair at least one customer owns together (what 'xsell attach --level
# product --all' lists), with the same rows excluded and rejected as the example config:
# cancelled invoices, non-products, negative quantities, rows without a customer. No end
# dates, so every won line is owned at T; the first purchase of a product is its first
# invoice day, and its first contract the smallest invoice number that day.
WIDE_SQL = """\
WITH li AS (
    SELECT regexp_replace(CustomerID, '\\.0$', '') AS account_id, StockCode AS item, InvoiceNo AS contract_id,
           CAST(CAST(InvoiceDate AS TIMESTAMP) AS DATE) AS booked_at
    FROM read_csv({path}, header = true, all_varchar = true)
    WHERE NOT starts_with(InvoiceNo, 'C')
      AND StockCode NOT IN ('POST', 'DOT', 'C2', 'M', 'm', 'D', 'S', 'B', 'CRUK', 'PADS', 'AMAZONFEE', 'BANK CHARGES')
      AND NOT regexp_matches(StockCode, '^(DCGS|gift_0001)')
      AND NOT starts_with(Quantity, '-')
      AND CustomerID IS NOT NULL
),
first_day AS (SELECT account_id, item, min(booked_at) AS first_date FROM li GROUP BY account_id, item),
firsts AS (
    SELECT f.account_id, f.item, f.first_date, min(l.contract_id) AS first_contract
    FROM first_day f JOIN li l ON l.account_id = f.account_id AND l.item = f.item AND l.booked_at = f.first_date
    GROUP BY f.account_id, f.item, f.first_date
),
pairs AS (
    SELECT a.item AS base_family, b.item AS target_family, count(*) AS both_accounts,
           count(*) FILTER (WHERE a.first_date = b.first_date OR a.first_contract = b.first_contract) AS co_booked,
           count(*) FILTER (WHERE NOT (a.first_date = b.first_date OR a.first_contract = b.first_contract)
                            AND b.first_date > a.first_date) AS cross_sold_after,
           count(*) FILTER (WHERE NOT (a.first_date = b.first_date OR a.first_contract = b.first_contract)
                            AND b.first_date < a.first_date) AS "before"
    FROM firsts a JOIN firsts b ON a.account_id = b.account_id AND a.item <> b.item
    GROUP BY a.item, b.item
),
owners AS (SELECT item, count(*) AS n FROM firsts GROUP BY item),
customers AS (SELECT count(DISTINCT account_id) AS customers FROM firsts),
rates AS (
    SELECT p.*, o1.n, o2.n AS target_accounts, c.customers, p.both_accounts / o1.n AS attach_rate,
           o2.n / c.customers AS target_rate, 1.959963984540054 AS z
    FROM pairs p JOIN owners o1 ON o1.item = p.base_family JOIN owners o2 ON o2.item = p.target_family
    CROSS JOIN customers c
),
wilson AS (
    SELECT *, (attach_rate + z * z / (2 * n)) / (1 + z * z / n) AS centre,
           z * sqrt(attach_rate * (1 - attach_rate) / n + z * z / (4 * n * n)) / (1 + z * z / n) AS half
    FROM rates
)
SELECT base_family, target_family, n AS base_accounts, both_accounts, attach_rate,
       CASE WHEN both_accounts = 0 THEN 0.0 ELSE greatest(centre - half, 0.0) END AS ci_low,
       CASE WHEN both_accounts = n THEN 1.0 ELSE least(centre + half, 1.0) END AS ci_high,
       target_accounts, target_rate, attach_rate / target_rate AS lift,
       co_booked, cross_sold_after, "before", cross_sold_after / n AS cross_sell_attach
FROM wilson
ORDER BY attach_rate DESC, base_accounts DESC, base_family, target_family
"""

CSV_TYPES = (
    "{'account_id': 'VARCHAR', 'product_id': 'VARCHAR', 'contract_id': 'VARCHAR', 'stage': 'VARCHAR', "
    "'booked_at': 'DATE', 'start_date': 'DATE', 'end_date': 'DATE'}"
)


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def attach_sql(folder: Path, fmt: str, *, min_base: int = MIN_BASE) -> str:
    """The peer's SELECT over the line items and products of ``folder`` (csv or parquet)."""
    if fmt == "csv":
        line_items = f"read_csv({_sql_str(folder / 'line_items.csv')}, header = true, types = {CSV_TYPES})"
        products = (
            f"read_csv({_sql_str(folder / 'products.csv')}, header = true, "
            "types = {'product_id': 'VARCHAR', 'family': 'VARCHAR'})"
        )
    else:
        line_items = f"read_parquet({_sql_str(folder / 'line_items.parquet')})"
        products = f"read_parquet({_sql_str(folder / 'products.parquet')})"
    return ATTACH_SQL.format(line_items=line_items, products=products, min_base=min_base)


# ---------------------------------------------------------------------------------------
# Machine and versions


def source_fingerprint() -> str:
    """A short hash of the installed xsell package's source (it may change between runs of a dirty tree)."""
    spec = importlib.util.find_spec("crossell_cli")
    if spec is None or not spec.submodule_search_locations:
        return ""
    package = Path(next(iter(spec.submodule_search_locations)))
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".yaml") and p.is_file()):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def compile_xsell() -> str:
    """Write the compiled files of xsell's modules, as ``pip install`` does for a regular (not
    editable) install and Python does on the first run of an editable one: a machine with
    PYTHONDONTWRITEBYTECODE set (this one) would otherwise compile all of xsell on every
    command, 0.25–0.3 s of each run that no user pays twice. Returns what was done."""
    spec = importlib.util.find_spec("crossell_cli")
    if spec is None or not spec.submodule_search_locations:
        return "xsell's modules not found: not compiled"
    package = Path(next(iter(spec.submodule_search_locations)))
    done = subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], capture_output=True, text=True)
    if done.returncode != 0:
        return f"could not compile xsell's modules in {package} (each run compiles them): {done.stdout.strip()}"
    return f"compiled xsell's modules in {package}"


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024**2:.1f}"
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    commit = ""
    try:
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # read-only: never touch the index
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout.strip()
        commit += "+dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": str(usable),
        "ram_gb": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "polars": version("polars"),
        "duckdb": version("duckdb"),
        "xsell": version("xsell") + (f" ({commit})" if commit else "") + f" src {source_fingerprint()}",
    }


# ---------------------------------------------------------------------------------------
# Data


def fmt_bytes(n: int) -> str:
    return f"{n / 1024**2:,.1f} MB"


def fmt_int(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def ensure_csv_book(xsell: str, folder: Path, *, accounts: int, families: int, seed: int) -> bool:
    """Generate the book with ``xsell sample`` unless the folder already holds it. True if generated."""
    if all((folder / f"{t}.csv").is_file() for t in TABLES):
        return False
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(folder.name + f".tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [xsell, "sample", "--accounts", str(accounts), "--families", str(families), "--seed", str(seed)]
    cmd += ["-q", "-o", str(staging)]
    print(f"generating: {' '.join(cmd)}", flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return True


def ensure_parquet_book(csv_folder: Path, folder: Path) -> bool:
    """Parquet copies of the three tables (types inferred by Polars, ID columns kept as text)."""
    if all((folder / f"{t}.parquet").is_file() for t in TABLES):
        return False
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for table in TABLES:
        src = csv_folder / f"{table}.csv"
        with src.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh))
        ids = {c: pl.String for c in header if c in ID_COLUMNS}
        target = folder / f"{table}.parquet"
        staging = folder / f".{table}.parquet.tmp"
        frame = pl.scan_csv(src, schema_overrides=ids, try_parse_dates=True, infer_schema_length=100_000)
        frame.sink_parquet(staging)
        staging.rename(target)
    print(f"wrote Parquet copies to {folder} in {time.perf_counter() - started:.1f} s", flush=True)
    return True


def describe_books(csv_folder: Path, parquet_folder: Path | None) -> int:
    """Print rows and sizes per table; return the number of line items."""
    rows_by_table: dict[str, int] = {}
    print(f"{'table':<12} {'rows':>12} {'csv':>12} {'parquet':>12}")
    for table in TABLES:
        pq = parquet_folder / f"{table}.parquet" if parquet_folder else None
        if pq is not None and pq.is_file():
            rows = pl.scan_parquet(pq).select(pl.len()).collect().item()
        else:
            rows = pl.scan_csv(csv_folder / f"{table}.csv", infer_schema=False).select(pl.len()).collect().item()
        rows_by_table[table] = rows
        csv_size = fmt_bytes((csv_folder / f"{table}.csv").stat().st_size)
        pq_size = fmt_bytes(pq.stat().st_size) if pq is not None and pq.is_file() else "-"
        print(f"{table:<12} {fmt_int(rows):>12} {csv_size:>12} {pq_size:>12}")
    return rows_by_table["line_items"]


# ---------------------------------------------------------------------------------------
# Measuring one child process


@dataclass
class Sample:
    seconds: float
    rss_bytes: int
    exit_code: int
    stdout: str
    stderr: str
    cpu_seconds: float  # user + system time of the child
    stall: float | None  # share of the wall time some task on the machine waited for a CPU (Linux PSI)
    killed: str = ""  # why the benchmark killed the run (time limit, memory), if it did


@dataclass
class Measurement:
    fmt: str
    name: str
    argv: list[str]
    samples: list[Sample] = field(default_factory=list)

    def argv_output(self) -> Path:
        """The -o path of an xsell command."""
        return Path(self.argv[self.argv.index("-o") + 1])

    @property
    def note(self) -> str:
        """Why the measurement failed, if it did."""
        bad = [s for s in self.samples if s.exit_code not in OK_EXIT]
        if not bad:
            return ""
        return "; ".join(sorted({s.killed or f"exit {s.exit_code}" for s in bad}))

    @property
    def ok(self) -> bool:
        return bool(self.samples) and all(s.exit_code in OK_EXIT for s in self.samples)

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(s.cpu_seconds for s in self.samples)

    @property
    def stall(self) -> float | None:
        values = [s.stall for s in self.samples if s.stall is not None]
        return statistics.median(values) if values else None

    @property
    def rss_mb(self) -> float:
        return statistics.median(s.rss_bytes for s in self.samples) / 1024**2


# The measured program is started by this small stdlib-only runner, never by the benchmark
# process itself. On Linux a child's ru_maxrss starts from the RSS high-water mark of the
# process that forked it (the kernel carries it across exec; with vfork it is the parent's
# whole peak), so a child of this Polars-loaded parent would report at least the parent's
# peak. A lean runner (about 10 MB) keeps that inherited floor negligible.
RUNNER_CODE = """\
import json, os, subprocess, sys, threading, time
job = json.loads(sys.argv[1])
killed = []


def available_bytes():
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def watch(proc, done):
    # Kill the child past the time limit, past its RSS cap, or when the machine runs out of memory.
    page = os.sysconf("SC_PAGE_SIZE")
    deadline = time.monotonic() + job["timeout"]
    while not done.wait(0.2):
        reason = None
        if time.monotonic() > deadline:
            reason = f"timeout after {job['timeout']:g} s"
        else:
            try:
                with open(f"/proc/{proc.pid}/statm") as fh:
                    rss = int(fh.read().split()[1]) * page
                free = available_bytes()
            except (OSError, ValueError, IndexError):
                continue
            if job["rss_cap"] and rss > job["rss_cap"]:
                reason = f"RSS {rss / 2**30:.1f} GB over the --mem-cap-gb cap"
            elif job["min_free"] and free is not None and free < job["min_free"]:
                reason = f"machine down to {free / 2**30:.1f} GB available (--min-free-gb)"
        if reason:
            killed.append(reason)
            proc.kill()
            return


def cpu_stall_us():
    # Linux PSI: total microseconds during which some runnable task waited for a CPU.
    try:
        with open("/proc/pressure/cpu") as fh:
            return int(fh.readline().split("total=")[1])
    except (OSError, IndexError, ValueError):
        return None


with open(job["stdout"], "wb") as out, open(job["stderr"], "wb") as err:
    stall_before = cpu_stall_us()
    started = time.perf_counter()
    proc = subprocess.Popen(job["argv"], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    done = threading.Event()
    watcher = threading.Thread(target=watch, args=(proc, done), daemon=True)
    watcher.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        done.set()
    seconds = time.perf_counter() - started
    stall_after = cpu_stall_us()
    proc.returncode = os.waitstatus_to_exitcode(status)
stall = (stall_after - stall_before) / 1e6 / seconds if stall_before is not None and stall_after else None
# ru_maxrss is in KiB on Linux, in bytes on macOS.
rss = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
cpu = usage.ru_utime + usage.ru_stime
result = {"seconds": seconds, "cpu": cpu, "rss": rss, "exit": proc.returncode, "stall": stall}
print(json.dumps({**result, "killed": killed[0] if killed else ""}))
"""


@dataclass(frozen=True)
class Limits:
    timeout: float
    rss_cap: int  # bytes; 0 = none
    min_free: int  # bytes of MemAvailable to keep for the rest of the machine; 0 = none


def run_child(argv: list[str], *, cwd: Path, env: dict[str, str], limits: Limits) -> Sample:
    """Run ``argv`` through the runner: wall time around Popen/wait4 and the child's own peak RSS."""
    out, err = cwd / "child.stdout", cwd / "child.stderr"
    job = {
        "argv": argv,
        "timeout": limits.timeout,
        "rss_cap": limits.rss_cap,
        "min_free": limits.min_free,
        "stdout": str(out),
        "stderr": str(err),
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUNNER_CODE, json.dumps(job)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the benchmark runner failed: {result.stderr.strip()[-2000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    stderr = err.read_text(encoding="utf-8", errors="replace")
    if measured["killed"]:
        stderr += f"\nkilled by the benchmark: {measured['killed']}"
    return Sample(
        measured["seconds"],
        measured["rss"],
        measured["exit"],
        out.read_text(encoding="utf-8", errors="replace"),
        stderr,
        measured["cpu"],
        measured["stall"],
        measured["killed"],
    )


def xsell_has_command(xsell: str, command: str) -> bool:
    result = subprocess.run([xsell, command, "--help"], capture_output=True, text=True)
    return result.returncode == 0


# ---------------------------------------------------------------------------------------
# Correctness guard: DuckDB vs xsell attach --all


def check_attach(xsell: str, folder: Path, fmt: str, work: Path, env: dict[str, str], threads: int) -> bool | None:
    """Compare every pair of the peer (min_base 0) with ``xsell attach --all``; print the verdict."""
    try:
        import duckdb
    except ImportError:
        print("check: duckdb is not installed (pip install -e '.[bench]'): skipped")
        return None
    out = work / f"check-{fmt}-xsell.csv"
    result = subprocess.run(
        [xsell, "attach", "--all", "--data", str(folder), "--format", "csv", "-o", str(out), "-q"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        print(f"check ({fmt}): xsell attach --all exited {result.returncode}: {result.stderr.strip()[-500:]}")
        return False
    ours = pl.read_csv(out, infer_schema_length=None)
    try:
        con = duckdb.connect()
        con.execute(f"SET threads TO {threads}")
        con.execute("SET enable_progress_bar = false")
        cursor = con.execute(attach_sql(folder, fmt, min_base=0))
        names = [d[0] for d in cursor.description]
        theirs = pl.DataFrame(cursor.fetchall(), schema=names, orient="row")
        con.close()
    except duckdb.Error as exc:
        print(f"check ({fmt}): the DuckDB query failed: {exc}")
        return False

    return compare_pairs(ours, theirs, f"check ({fmt}): DuckDB vs 'xsell attach --all'")


def wide_measurements(xsell: str, wide: Path, work: Path, threads: int, timed_peer: bool) -> list[Measurement]:
    """The floor, the peer and xsell on the Online Retail file (format label WIDE)."""
    found = [Measurement(WIDE, FLOOR, [sys.executable, "-c", WIDE_FLOOR_CODE, str(wide)])]
    if timed_peer:
        sql_path = work / "peer-wide.sql"
        query = WIDE_SQL.format(path=_sql_str(wide))
        sql_path.write_text(
            f"COPY ({query}) TO {_sql_str(work / 'wide-duckdb.parquet')} (FORMAT parquet)", encoding="utf-8"
        )
        found.append(Measurement(WIDE, PEER, [sys.executable, "-c", PEER_CODE, str(threads), str(sql_path)]))
    argv = [xsell, "attach", "--config", str(WIDE_CONFIG), "--line-items", str(wide)]
    argv += ["--level", "product", "--all", "--format", "parquet", "-o", str(work / "wide-attach.parquet"), "-q"]
    found.append(Measurement(WIDE, "xsell attach", argv))
    return found


def check_wide(wide: Path, work: Path, threads: int) -> bool | None:
    """The last timed outputs of xsell and the peer on the wide book, pair by pair."""
    ours, theirs = work / "wide-attach.parquet", work / "wide-duckdb.parquet"
    if not (ours.is_file() and theirs.is_file()):
        print("check (retail): an output is missing (a run failed): skipped")
        return None
    return compare_pairs(
        pl.read_parquet(ours), pl.read_parquet(theirs), "check (retail): DuckDB vs 'xsell attach --level product --all'"
    )


def compare_pairs(ours: pl.DataFrame, theirs: pl.DataFrame, label: str) -> bool:
    """Pair by pair: the counts must be equal, the rates equal within 1e-9 (relative); print the verdict."""
    key = ["base_family", "target_family"]
    joined = ours.join(theirs, on=key, how="full", suffix="_duckdb", coalesce=True)
    only_x = joined.filter(pl.col("base_accounts_duckdb").is_null() & pl.col("base_accounts").is_not_null())
    only_d = joined.filter(pl.col("base_accounts").is_null() & pl.col("base_accounts_duckdb").is_not_null())
    both = joined.filter(pl.col("base_accounts").is_not_null() & pl.col("base_accounts_duckdb").is_not_null())

    def differ(column: str, tolerance: float | None = None) -> pl.DataFrame:
        a, b = pl.col(column), pl.col(f"{column}_duckdb")
        if tolerance is None:
            same = a.cast(pl.Int64).eq_missing(b.cast(pl.Int64))
        else:
            a, b = a.cast(pl.Float64), b.cast(pl.Float64)
            close = (a - b).abs() <= tolerance * pl.max_horizontal(a.abs(), b.abs(), pl.lit(1.0))
            same = (a.is_null() & b.is_null()) | close.fill_null(False)
        return both.filter(~same)

    main = {c: differ(c) for c in ("base_accounts", "both_accounts")}
    extra = {c: differ(c) for c in ("target_accounts", "co_booked", "cross_sold_after", "before")}
    extra |= {
        c: differ(c, 1e-9) for c in ("attach_rate", "ci_low", "ci_high", "target_rate", "lift", "cross_sell_attach")
    }
    agree = only_x.is_empty() and only_d.is_empty() and all(d.is_empty() for d in main.values())
    visible = (ours["base_accounts"] >= MIN_BASE).sum(), (theirs["base_accounts"] >= MIN_BASE).sum()
    verdict = "AGREE" if agree else "DISAGREE"
    print(
        f"{label}: {verdict} on base_accounts/both_accounts "
        f"({both.height} pairs in both, {only_x.height} only in xsell, {only_d.height} only in DuckDB; "
        f"{visible[0]} vs {visible[1]} with base >= {MIN_BASE})"
    )
    same_extra = [c for c, d in extra.items() if d.is_empty()]
    diff_extra = [f"{c} ({d.height} pairs)" for c, d in extra.items() if not d.is_empty()]
    print(f"  also equal: {', '.join(same_extra) or '-'}")
    if diff_extra:
        print(f"  differ: {', '.join(diff_extra)}")
    for column, d in {**main, **extra}.items():
        if not d.is_empty():
            sample = d.select(*key, column, f"{column}_duckdb").head(5)
            print(f"  first differences in {column}:")
            for row in sample.iter_rows():
                print(f"    {row[0]} -> {row[1]}: xsell {row[2]}  duckdb {row[3]}")
    for label, frame in (("only in xsell", only_x), ("only in DuckDB", only_d)):
        if not frame.is_empty():
            print(f"  {label}: {', '.join(f'{a} -> {b}' for a, b in frame.select(key).head(5).iter_rows())}")
    return agree


# ---------------------------------------------------------------------------------------
# Report


def status(value: float | None, target: float, strict: bool = False) -> str:
    if value is None:
        return ""
    good = value < target if strict else value <= target
    return "ok" if good else "MISS"


def ratio(a: float, b: float | None) -> float | None:
    return a / b if b else None


def build_rows(measurements: list[Measurement], formats: list[str]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for fmt in formats:
        mine = [m for m in measurements if m.fmt == fmt]
        floor = next((m for m in mine if m.name == FLOOR and m.ok), None)
        peer = next((m for m in mine if m.name == PEER and m.ok), None)
        for m in mine:
            row = {
                "format": fmt,
                "measurement": m.name,
                "runs": str(len(m.samples)),
                "exit_codes": ";".join(sorted({str(s.exit_code) for s in m.samples})),
                "seconds": "",
                "cpu_s": "",
                "cpu_stall": "",
                "rss_mb": "",
                "samples_s": ";".join(f"{s.seconds:.3f}" for s in m.samples),
                "time_ratio": "",
                "time_target": "",
                "time_status": "",
                "rss_ratio": "",
                "rss_target": "",
                "rss_status": "",
                "vs_duckdb": "",
                "vs_duckdb_target": "",
                "vs_duckdb_status": "",
            }
            row["note"] = m.note
            if not m.ok:
                row["time_status"] = "FAIL"
                rows.append(row)
                continue
            row["seconds"] = f"{m.seconds:.3f}"
            row["cpu_s"] = f"{m.cpu_seconds:.3f}"
            row["cpu_stall"] = f"{m.stall:.0%}" if m.stall is not None else ""
            row["rss_mb"] = f"{m.rss_mb:.1f}"
            is_xsell = m.name.startswith("xsell ")
            t_ratio = ratio(m.seconds, floor.seconds) if floor else None
            r_ratio = ratio(m.rss_mb, floor.rss_mb) if floor else None
            if t_ratio is not None:
                row["time_ratio"] = f"{t_ratio:.2f}"
            if r_ratio is not None:
                row["rss_ratio"] = f"{r_ratio:.2f}"
            if is_xsell and fmt == WIDE:  # the wide book: absolute memory, and 3x faster than DuckDB
                row["rss_target"] = f"< {WIDE_RSS_TARGET_MB:g} MB"
                row["rss_status"] = status(m.rss_mb, WIDE_RSS_TARGET_MB, strict=True)
                if peer is not None:
                    vs = ratio(m.seconds, peer.seconds)
                    row["vs_duckdb"] = f"{vs:.2f}" if vs is not None else ""
                    row["vs_duckdb_target"] = f"<= {WIDE_VS_DUCKDB_TARGET:.2f}"
                    row["vs_duckdb_status"] = status(vs, WIDE_VS_DUCKDB_TARGET)
            elif is_xsell:
                t_target = ATTACH_TIME_TARGET if m.name == "xsell attach" else OTHER_TIME_TARGET
                row["time_target"] = f"<= {t_target:g}"
                row["time_status"] = status(t_ratio, t_target)
                row["rss_target"] = f"<= {RSS_TARGET:g}"
                row["rss_status"] = status(r_ratio, RSS_TARGET)
                if m.name == "xsell attach" and peer is not None:
                    vs = ratio(m.seconds, peer.seconds)
                    row["vs_duckdb"] = f"{vs:.2f}" if vs is not None else ""
                    row["vs_duckdb_target"] = "< 1"
                    row["vs_duckdb_status"] = status(vs, 1.0, strict=True)
            rows.append(row)
    return rows


def print_table(rows: list[dict[str, str]]) -> None:
    columns = [
        ("format", "format", "<"),
        ("measurement", "measurement", "<"),
        ("seconds", "median s", ">"),
        ("cpu_s", "CPU s", ">"),
        ("cpu_stall", "stall", ">"),
        ("rss_mb", "peak RSS MB", ">"),
        ("time_ratio", "s / read", ">"),
        ("time_target", "target", "<"),
        ("time_status", "", "<"),
        ("rss_ratio", "RSS / read", ">"),
        ("rss_target", "target", "<"),
        ("rss_status", "", "<"),
        ("vs_duckdb", "s / DuckDB", ">"),
        ("vs_duckdb_target", "target", "<"),
        ("vs_duckdb_status", "", "<"),
        ("note", "", "<"),
    ]
    widths = [max(len(title), *(len(r[key]) for r in rows)) for key, title, _ in columns]

    def line(cells: list[str]) -> str:
        parts = [f"{c:{a}{w}}" for c, w, (_, _, a) in zip(cells, widths, columns, strict=True)]
        return "  ".join(parts).rstrip()

    print(line([title for _, title, _ in columns]))
    print(line(["-" * w for w in widths]))
    previous = None
    for r in rows:
        if previous is not None and r["format"] != previous:
            print()
        previous = r["format"]
        print(line([r[key] for key, _, _ in columns]))


RESULT_FIELDS = [
    "timestamp",
    "accounts",
    "families",
    "seed",
    "line_items",
    "repeat",
    "threads",
    "format",
    "measurement",
    "runs",
    "exit_codes",
    "seconds",
    "cpu_s",
    "cpu_stall",
    "rss_mb",
    "samples_s",
    "time_ratio",
    "time_target",
    "time_status",
    "rss_ratio",
    "rss_target",
    "rss_status",
    "vs_duckdb",
    "vs_duckdb_target",
    "vs_duckdb_status",
    "attach_check",
    "note",
    "host",
    "cpu",
    "cores",
    "ram_gb",
    "os",
    "python",
    "polars",
    "duckdb",
    "xsell",
    "load_before",
    "load_after",
]


def append_results(path: Path, rows: list[dict[str, str]], common: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        with path.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
        if header != RESULT_FIELDS:  # an older layout: never mix columns in one file
            path = path.with_name(f"{path.stem}-{dt.datetime.now():%Y%m%d-%H%M%S}{path.suffix}")
    new = not path.exists()
    with path.open("a", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_FIELDS)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({**common, **row})
    return path


# ---------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description=(
            "Benchmark xsell against SPEC §4: each xsell command end to end, a hand-written DuckDB "
            "attach query, and the floor (a child Python process that only reads the line-items "
            "file with Polars), each as a separate process, --repeat times; prints median wall "
            "time, median peak RSS and the ratios to the floor with their targets (attach <= 1.5x "
            "the read and faster than DuckDB; other commands <= 3x; peak RSS <= 2x the read's), "
            "checks that DuckDB and 'xsell attach --all' agree, and appends the figures to a CSV."
        ),
        epilog=(
            "Example (from the repository root): .venv/bin/python benchmarks/run.py --accounts 1000000 "
            "--families 40 --seed 1 --repeat 3. The book is generated once with 'xsell sample' into "
            "benchmarks/data/a{N}-f{F}-s{S}/ (Parquet copies in a{N}-f{F}-s{S}-parquet/) and reused "
            "when present. A 1 000 000-account book is about 1 GB of CSV."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--accounts", type=int, default=1_000_000, help="accounts in the synthetic book")
    parser.add_argument("--families", type=int, default=40, help="product families in the synthetic book")
    parser.add_argument("--seed", type=int, default=1, help="seed for 'xsell sample'")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (medians are reported)")
    parser.add_argument(
        "--commands",
        default=",".join(COMMANDS),
        help="comma-separated xsell commands to time ('report' is skipped when this xsell has none)",
    )
    parser.add_argument("--formats", default="csv,parquet", help="comma-separated input formats: csv, parquet")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results CSV to append to")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="where generated books live")
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep a book this run generated (books that already existed are always kept)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads for every child (POLARS_MAX_THREADS and DuckDB's SET threads); SPEC §4 is a 2-core bar",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="kill a single run after this many seconds")
    parser.add_argument(
        "--mem-cap-gb", type=float, default=0.0, help="kill a single run whose RSS passes this many GB (0 = no cap)"
    )
    parser.add_argument(
        "--min-free-gb",
        type=float,
        default=1.0,
        help="kill the running measurement when the machine's available memory drops below this (0 = never); "
        "protects whatever else runs on the machine from the OOM killer",
    )
    parser.add_argument(
        "--wide",
        type=Path,
        default=DEFAULT_WIDE,
        help=(
            "the UCI Online Retail CSV: times 'xsell attach --level product --all -f parquet' with "
            "examples/online_retail/xsell.yaml against an all-pairs DuckDB query and checks they agree "
            "(skipped when the file is missing)"
        ),
    )
    parser.add_argument("--no-wide", action="store_true", help="skip the Online Retail (wide book) measurements")
    parser.add_argument("--no-check", action="store_true", help="skip the DuckDB vs 'xsell attach --all' check")
    parser.add_argument("--no-peer", action="store_true", help="do not time the DuckDB peer")
    parser.add_argument("--print-sql", action="store_true", help="print the DuckDB peer query and exit")
    args = parser.parse_args(argv)
    args.command_list = [c.strip() for c in args.commands.split(",") if c.strip()]
    args.format_list = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = [c for c in args.command_list if c not in COMMANDS]
    if unknown:
        parser.error(f"unknown command(s): {', '.join(unknown)} (choose from {', '.join(COMMANDS)})")
    bad = [f for f in args.format_list if f not in ("csv", "parquet")]
    if bad:
        parser.error(f"unknown format(s): {', '.join(bad)} (csv, parquet)")
    if args.repeat < 1 or args.accounts < 1 or args.threads < 1:
        parser.error("--repeat, --accounts and --threads must be at least 1")
    return args


def find_xsell() -> str:
    beside = Path(sys.executable).parent / "xsell"
    if beside.is_file():
        return str(beside)
    found = shutil.which("xsell")
    if found is None:
        sys.exit("xsell is not installed: run 'pip install -e .[bench]' in the repository's virtualenv")
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = f"a{args.accounts}-f{args.families}-s{args.seed}"
    csv_folder = (args.data_dir / name).resolve()
    pq_folder = (args.data_dir / f"{name}-parquet").resolve()
    if args.print_sql:
        print(attach_sql(csv_folder, "csv"))
        return 0

    xsell = find_xsell()
    info = machine()
    have_duckdb = info["duckdb"] != "not installed"
    started_at = dt.datetime.now().astimezone()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"xsell benchmark — {started_at:%Y-%m-%d %H:%M:%S %Z}")
    print(
        f"machine: {info['cpu']}; {info['cores']} cores usable; {info['ram_gb']} GB RAM; {info['os']}; "
        f"load average {load_before}"
    )
    print(f"versions: Python {info['python']}, Polars {info['polars']}, DuckDB {info['duckdb']}, xsell {info['xsell']}")
    print(f"threads per child: {args.threads}")
    if info["cores"] != "2":
        print("note: SPEC §4's bar is for a 2-core machine; this one has a different count")
    print()

    generated = []
    if ensure_csv_book(xsell, csv_folder, accounts=args.accounts, families=args.families, seed=args.seed):
        generated.append(csv_folder)
    parquet_wanted = "parquet" in args.format_list
    if parquet_wanted and ensure_parquet_book(csv_folder, pq_folder):
        generated.append(pq_folder)
    print(f"book: {csv_folder}" + (f" (+ {pq_folder.name})" if parquet_wanted else ""))
    line_items = describe_books(csv_folder, pq_folder if parquet_wanted else None)
    print()

    commands = list(args.command_list)
    if "report" in commands and not xsell_has_command(xsell, "report"):
        print("xsell report: this xsell has no 'report' command (SPEC §4 names it): skipped")
        commands.remove("report")
    timed_peer = have_duckdb and not args.no_peer
    if not have_duckdb:
        print("DuckDB is not installed (pip install -e '.[bench]'): the peer and the check are skipped")

    env = {k: v for k, v in os.environ.items() if k not in ("XSELL_CONFIG", "_RJEM_MALLOC_CONF")}
    if _USER_MALLOC_CONF is not None:
        env["_RJEM_MALLOC_CONF"] = _USER_MALLOC_CONF
    env |= {"POLARS_MAX_THREADS": str(args.threads), "NO_COLOR": "1"}
    folders = {"csv": csv_folder, "parquet": pq_folder}
    limits = Limits(args.timeout, int(args.mem_cap_gb * 2**30), int(args.min_free_gb * 2**30))
    work = Path(tempfile.mkdtemp(prefix="xsell-bench-"))
    try:
        measurements: list[Measurement] = []
        for fmt in args.format_list:
            folder = folders[fmt]
            li_file = folder / f"line_items.{fmt}"
            measurements.append(Measurement(fmt, FLOOR, [sys.executable, "-c", FLOOR_CODE, str(li_file)]))
            if timed_peer:
                sql_path = work / f"peer-{fmt}.sql"
                out = work / f"{fmt}-duckdb-attach.csv"
                sql_path.write_text(
                    f"COPY ({attach_sql(folder, fmt)}) TO {_sql_str(out)} (HEADER, DELIMITER ',')", encoding="utf-8"
                )
                peer_argv = [sys.executable, "-c", PEER_CODE, str(args.threads), str(sql_path)]
                measurements.append(Measurement(fmt, PEER, peer_argv))
            for command in commands:
                out = work / (f"{fmt}-{command}.html" if command == "report" else f"{fmt}-{command}.csv")
                argv = [xsell, command, "--data", str(folder)]
                argv += ([] if command == "report" else ["--format", "csv"]) + ["-o", str(out), "-q"]
                measurements.append(Measurement(fmt, f"xsell {command}", argv))

        wide = None if args.no_wide or not args.wide.is_file() else args.wide.resolve()
        if wide is not None:
            measurements += wide_measurements(xsell, wide, work, args.threads, timed_peer)
        elif not args.no_wide:
            print(f"wide book: {args.wide} not found: the Online Retail measurements are skipped")

        print(compile_xsell())
        # Warm the page cache so that the first timed run does not pay for the disk.
        for fmt in args.format_list:
            run_child(
                [sys.executable, "-c", FLOOR_CODE, str(folders[fmt] / f"line_items.{fmt}")],
                cwd=work,
                env=env,
                limits=limits,
            )

        # Round-robin: each repetition runs every measurement once, so drifting background
        # load spreads over all of them instead of skewing one.
        total = args.repeat * len(measurements)
        done = 0
        for rep in range(args.repeat):
            for m in measurements:
                done += 1
                print(f"[{done}/{total}] run {rep + 1}: {m.fmt:<7} {m.name:<17} ", end="", flush=True)
                s = run_child(m.argv, cwd=work, env=env, limits=limits)
                m.samples.append(s)
                if m.name.startswith("xsell ") and m.name != "xsell attach":
                    m.argv_output().unlink(missing_ok=True)  # whitespace at 1M accounts is GBs of CSV
                note = "" if s.exit_code in OK_EXIT else f"  FAILED (exit {s.exit_code})"
                stall = f"  stall {s.stall:4.0%}" if s.stall is not None else ""
                print(
                    f"{s.seconds:8.3f} s  cpu {s.cpu_seconds:8.3f} s {s.rss_bytes / 1024**2:9.1f} MB{stall}  "
                    f"exit {s.exit_code}{note}",
                    flush=True,
                )
                if s.exit_code not in OK_EXIT:
                    tail = (s.stderr.strip() or "(no stderr)").splitlines()[-5:]
                    print("    " + "\n    ".join(tail))
                elif m.name == FLOOR and m.fmt != WIDE and s.stdout.strip() != str(line_items):
                    print(f"    note: the floor read {s.stdout.strip()} rows, expected {line_items}")
        print()

        load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        if not info["xsell"].endswith(source_fingerprint()):
            print("WARNING: xsell's source changed during this run: the figures mix versions of it")
        peer_version = next(
            (m.samples[0].stdout.strip() for m in measurements if m.name == PEER and m.samples and m.ok), ""
        )
        if timed_peer:
            version = peer_version or info["duckdb"]
            print(f"DuckDB peer: version {version}, SET threads TO {args.threads}; {PEER_INCLUDES}")
        formats = args.format_list + ([WIDE] if wide is not None else [])
        rows = build_rows(measurements, formats)
        print(
            f"{fmt_int(args.accounts)} accounts, {fmt_int(line_items)} line items, {args.families} families, "
            f"seed {args.seed}; median of {args.repeat} run(s); load average before {load_before}, after {load_after}"
        )
        print_table(rows)
        statuses = [r[k] for r in rows for k in ("time_status", "rss_status", "vs_duckdb_status") if r[k]]
        met = sum(st == "ok" for st in statuses)
        print(
            f"SPEC §4: {met} of {len(statuses)} targets met" + (" (FAIL: a run failed)" if "FAIL" in statuses else "")
        )
        print(
            "CPU s: user + system time of the child. stall: share of its wall time during which some task "
            "on the machine waited for a CPU (Linux PSI); a high stall means more runnable threads than cores "
            "(usually other work on the machine), which inflates the wall times."
        )
        print()

        # Same answer from CSV and Parquet input?
        if set(args.format_list) == {"csv", "parquet"} and "attach" in commands:
            a, b = work / "csv-attach.csv", work / "parquet-attach.csv"
            if a.is_file() and b.is_file():
                same = a.read_bytes() == b.read_bytes()
                print(f"xsell attach output identical for CSV and Parquet input: {'yes' if same else 'NO'}")

        checks: dict[str, str] = {}
        if have_duckdb and not args.no_check:
            for fmt in args.format_list:
                verdict = check_attach(xsell, folders[fmt], fmt, work, env, args.threads)
                checks[fmt] = {True: "agree", False: "DISAGREE", None: "skipped"}[verdict]
        if wide is not None and have_duckdb and not args.no_check:
            checks[WIDE] = {True: "agree", False: "DISAGREE", None: "skipped"}[check_wide(wide, work, args.threads)]
        print()

        common = {
            "timestamp": started_at.isoformat(timespec="seconds"),
            "accounts": str(args.accounts),
            "families": str(args.families),
            "seed": str(args.seed),
            "line_items": str(line_items),
            "repeat": str(args.repeat),
            "threads": str(args.threads),
            "load_before": load_before,
            "load_after": load_after,
            **{k: info[k] for k in ("host", "cpu", "cores", "ram_gb", "os", "python", "polars", "duckdb", "xsell")},
        }
        for row in rows:
            row["attach_check"] = checks.get(row["format"], "not run")
        written = append_results(args.out, rows, common)
        print(f"results appended to {written}")
        failed = [f"{m.fmt} {m.name}" for m in measurements if not m.ok]
        if failed:
            print(f"failed: {', '.join(failed)}")
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep_data:
            for folder in generated:
                shutil.rmtree(folder, ignore_errors=True)
                print(f"removed generated data {folder} (use --keep-data to keep it)")


if __name__ == "__main__":
    sys.exit(main())
