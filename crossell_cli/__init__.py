"""xsell: cross-sell analytics for RevOps, from CRM and billing exports."""

import os

# OpenBLAS's idle worker threads spin for 2^28 cycles after every BLAS call before they sleep.
# The whitespace fit's EASE inverse (Cholesky, hundreds of BLAS calls inside LAPACK) then burnt
# more CPU spinning than computing: 7.7 -> 2.9 CPU-s for Online Retail's two inverses with 2^4.
# How the work is split among the threads does not change, so every result is the same to the
# bit. Read once, when numpy (or scipy) loads OpenBLAS; a value the user set wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"
