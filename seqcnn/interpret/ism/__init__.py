"""In-silico saturation mutagenesis (ISM): the effect of every single-base substitution.

``ism`` runs the fast exact engine, checked against ``naive_ism``, the reference (one forward pass
per mutant); both return an :class:`ISMResult`, read through ``mutation_map`` and ``importance``.
"""

from seqcnn.interpret.ism.mutagenesis import ISMFallbackWarning, ism
from seqcnn.interpret.ism.naive import naive_ism
from seqcnn.interpret.ism.result import ISMResult, importance, mutation_map

__all__ = ["ISMFallbackWarning", "ISMResult", "importance", "ism", "mutation_map", "naive_ism"]
