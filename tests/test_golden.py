"""Golden outputs: every command's CSV on sample_data/ and the example configs, byte for byte.

A redesign must reproduce these exactly; a commit that changes a number on purpose
regenerates the affected files (``python -m tests.golden.capture``) and says why.
"""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from .golden.capture import CODES, case_digest, head, run_case
from .golden.cases import REALDATA, cases, digest_path, golden_path, head_path, machine_digits

CASES = cases()


def _first_difference(got: bytes, want: bytes) -> str:
    a, b = got.decode("utf-8").splitlines(), want.decode("utf-8").splitlines()
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return (
        f"at line {i + 1} ({len(a)} lines here, {len(b)} in the golden file):\n"
        f"  got:    {a[i] if i < len(a) else '<end>'}\n  golden: {b[i] if i < len(b) else '<end>'}"
    )


def _cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def _close(a: str, b: str) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-300)
    except ValueError:
        return False


def _same(name: str, got: bytes, want: bytes) -> bool:
    """Byte for byte; a ``machine_digits`` case cell for cell, its numbers to 1e-12."""
    if got == want or not machine_digits(name):
        return got == want
    a, b = _cells(got), _cells(want)
    return len(a) == len(b) and all(
        len(x) == len(y) and all(c == d or _close(c, d) for c, d in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(("dataset", "name", "argv"), CASES, ids=[f"{d}/{n}" for d, n, _ in CASES])
def test_golden(dataset: str, name: str, argv: list[str]) -> None:
    if dataset != "sample" and not (REALDATA / dataset).exists():
        pytest.skip(f"{REALDATA / dataset} is not present")
    code, stdout = run_case(argv)
    assert code == json.loads(CODES.read_text())[f"{dataset}/{name}"], f"{dataset}/{name}: exit code"
    if golden_path(dataset, name).exists():
        expected = golden_path(dataset, name).read_bytes()
        if not _same(name, stdout, expected):
            pytest.fail(f"{dataset}/{name} differs from its golden file " + _first_difference(stdout, expected))
        return
    if not _same(name, head(stdout), head_path(dataset, name).read_bytes()) or (
        case_digest(name, stdout) != digest_path(dataset, name).read_text()
    ):
        pytest.fail(
            f"{dataset}/{name} differs from its golden digest "
            + _first_difference(head(stdout), head_path(dataset, name).read_bytes())
        )
