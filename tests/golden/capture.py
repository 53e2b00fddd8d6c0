"""Write the golden outputs: ``python -m tests.golden.capture [DATASET ...]``.

Runs every case of ``cases.py`` in-process (like ``tests/test_golden.py``) and writes its
stdout to ``tests/golden/<dataset>/<name>.csv`` (or, past MAX_INLINE bytes, a digest and
the first lines) and its exit code to ``exit_codes.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys

from typer.testing import CliRunner

from crossell_cli.cli import app

from .cases import GOLDEN, HEAD_LINES, MAX_INLINE, REPO, cases, digest_path, golden_path, head_path, machine_digits

CODES = GOLDEN / "exit_codes.json"


def run_case(argv: list[str]) -> tuple[int, bytes]:
    """Exit code and stdout; the checkout's own path (validate lists input files) becomes <repo>."""
    result = CliRunner().invoke(app, [*argv, "--format", "csv"], env={"XSELL_CONFIG": ""}, catch_exceptions=False)
    return result.exit_code, result.stdout_bytes.replace(str(REPO).encode(), b"<repo>")


def digest(data: bytes) -> str:
    lines = data.count(b"\n")
    return f"{hashlib.sha256(data).hexdigest()} {len(data)} bytes {lines} lines\n"


_DECIMAL = re.compile(rb"-?\d+\.\d+(?:[eE][-+]?\d+)?")


def rounded(data: bytes) -> bytes:
    """``data`` with every decimal number rounded to 6 significant digits (``machine_digits``)."""
    return _DECIMAL.sub(lambda m: b"%.6g" % float(m.group()), data)


def case_digest(name: str, data: bytes) -> str:
    """The digest a large case is kept as: of its bytes, or of them rounded (``machine_digits``)."""
    return digest(rounded(data)) if machine_digits(name) else digest(data)


def head(data: bytes) -> bytes:
    return b"".join(data.splitlines(keepends=True)[:HEAD_LINES])


def main(only: list[str]) -> int:
    codes: dict[str, int] = json.loads(CODES.read_text()) if CODES.exists() else {}
    for dataset, name, argv in cases():
        if only and dataset not in only:
            continue
        code, stdout = run_case(argv)
        for path in (golden_path(dataset, name), digest_path(dataset, name), head_path(dataset, name)):
            path.unlink(missing_ok=True)
        path = golden_path(dataset, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if len(stdout) > MAX_INLINE:
            digest_path(dataset, name).write_text(case_digest(name, stdout))
            head_path(dataset, name).write_bytes(head(stdout))
        else:
            path.write_bytes(stdout)
        codes[f"{dataset}/{name}"] = code
        print(f"{dataset}/{name}: exit {code}, {len(stdout):,} bytes", file=sys.stderr)
    CODES.write_text(json.dumps(dict(sorted(codes.items())), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
