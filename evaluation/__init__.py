"""Evaluation workbook package."""

import os

# The models fit many small (about 100 x 10) matrices, where BLAS threads cannot help and only contend for
# the cores: on a loaded 2-core machine the default ITS fit ran about 6 times slower with OpenBLAS's threads
# than without. This only takes effect if numpy is not yet imported; a caller's own setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
