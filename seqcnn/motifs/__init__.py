"""Motifs a trained model has learned, and what they match.

- ``seqcnn.motifs.extract``: one motif per first-layer filter (``extract_filter_motifs``), from the
  windows that activate it (``seqcnn.motifs.sites``) or from its kernel, with its influence on each
  task (``seqcnn.motifs.influence``).
- ``seqcnn.motifs.seqlets``: motifs from attribution maps (high-importance stretches, clustered).
- ``seqcnn.motifs.pwm``: probability matrices: information content, trimming, consensus.
- ``seqcnn.motifs.annotate``: TomTom against JASPAR or a MEME file; ``annotate`` takes filter motifs
  and MEME motifs alike.
- ``seqcnn.motifs.recovery``: which planted motifs a model's motifs recovered (the one rule of
  ``seqcnn demo`` and ``scripts/bench_train.py --sets``).
"""
