"""Scoring sequences with a model: arrays, FASTA files, windows and variant effects.

:func:`predict` scores sequences in memory; :class:`Scorer` is the plain reference underneath
(strands, output transform, batching), made faster on the CPU by :mod:`seqcnn.score.accel`;
:func:`score_fasta`, :func:`score_records` and :func:`score_windows` stream large inputs, and
:func:`variant_effects` (one call) and :func:`score_variants` (streamed) score the ref and alt windows
of VCF variants.
"""

from seqcnn.score.scorer import Scorer
from seqcnn.score.scoring import predict, score_fasta, score_records, score_windows
from seqcnn.score.variants import score_variants, variant_effects

__all__ = ["Scorer", "predict", "score_fasta", "score_records", "score_variants", "score_windows",
           "variant_effects"]
