"""CPU speed-ups for scoring, switched on by one call and checked against the plain forward.

:func:`accelerate` installs them on a :class:`seqcnn.score.Scorer`: a first block fused into one
table look-up kernel (``fused``, with its numba kernels in ``fused_kernels``), a first convolution by
table look-ups (``table``) and wide later convolutions by FFT (``fft``).
"""

from seqcnn.score.accel.install import accelerate

__all__ = ["accelerate"]
