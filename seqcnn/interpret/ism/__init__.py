"""In-silico saturation mutagenesis (ISM): the effect of every single-base substitution.

``ism`` runs the fast exact engine (``seqcnn.interpret.ism.engine``) and ``naive_ism`` the reference,
one forward pass per mutant; both return an :class:`ISMResult`.
"""

from seqcnn.interpret.ism.mutagenesis import (
    ISMFallbackWarning,
    ISMResult,
    importance,
    ism,
    mutation_map,
    naive_ism,
)

__all__ = ["ISMFallbackWarning", "ISMResult", "importance", "ism", "mutation_map", "naive_ism"]
