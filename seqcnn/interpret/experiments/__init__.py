"""In-silico experiments: what a model does with a motif placed, paired or removed.

- :func:`marginalize`: a motif inserted into ``n`` dinucleotide-shuffled backgrounds; the change of
  every output, per background (its distribution is the motif's marginal effect, free of the context
  any one real sequence gives it).
- :func:`spacing`: two motifs at distances ``0 .. D`` apart in the same backgrounds; the effect of the
  pair against the sum of the effects of each alone (the cooperativity curve).
- :func:`ablation`: a span of real sequences shuffled (dinucleotides kept) or masked (set to N); the
  loss of score.

Every score is the model's raw output (logits for binary and multiclass models), because effects on
that scale add: for a model without interactions the pair's effect is exactly the sum of the singles'.
Motifs are strings of ``A C G T`` (``U`` read as ``T``) where ``N`` keeps the background base, or a
probability matrix / :class:`~seqcnn.seq.meme.Motif`, inserted as its consensus (most probable base).
Positions are 0-based; spans are half-open.
"""

from seqcnn.interpret.experiments.ablation import ABLATION_MODES, Ablation, ablated, ablation
from seqcnn.interpret.experiments.inputs import (
           MotifLike,
           effect_summary,
           motif_sequence,
           shuffled_backgrounds,
)
from seqcnn.interpret.experiments.insertion import Marginalization, Spacing, marginalize, spacing

__all__ = ["ABLATION_MODES", "Ablation", "Marginalization", "MotifLike", "Spacing", "ablated", "ablation",
           "effect_summary", "marginalize", "motif_sequence", "shuffled_backgrounds", "spacing"]
