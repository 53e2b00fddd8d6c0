"""xsell: cross-sell analytics for RevOps, from CRM and billing exports."""

import os

# One BLAS thread: OpenBLAS chooses its Cholesky blocking by thread count, so the whitespace
# fit's EASE inverse (and every score after it) differed in the last bits between a 2-core and
# a 4-core machine; the same input must give the same bytes anywhere. It is cheaper too: idle
# OpenBLAS workers spin after every call, and the two EASE inverses of Online Retail took
# 2.9 CPU-s on two threads, 1.5 on one. Read when numpy first loads OpenBLAS, so it is set
# before anything imports numpy; it applies to xsell's own process only.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

__version__ = "0.1.0"
