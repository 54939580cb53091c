"""``seqcnn vep`` with a profile model (BPNet): count log2 fold change and profile Jensen-Shannon distance.

``vep_cmd`` adds :data:`profile_scores_option` to ``seqcnn vep``; :func:`use_profile` tells from the
model file whether its variants get profile scores, and :func:`load_profile_scorer` gives the scorer
that :func:`seqcnn.workflows.variant_tables.variant_table` (``profile=True``) writes them with.
"""

from __future__ import annotations

from typing import Any

import click

profile_scores_option = click.option(
    "--profile-scores/--no-profile-scores", default=None,
    help="Profile models (BPNet): per task the counts log2 fold change and the profile Jensen-Shannon "
         "distance [default for them]; --no-profile-scores: the table of their counts head.")


def use_profile(model_path: str, asked: bool | None, splicing: bool, logits: bool) -> bool:
    """Whether the model file's variants get profile scores (only its metadata is read).

    Raises ``ConfigError`` for ``--profile-scores`` with a model without a profile head, and for
    ``--logits`` with profile scores (log counts and profile logits have no transform to skip).
    """
    from seqcnn.errors import ConfigError
    from seqcnn.modelfile import read_metadata
    from seqcnn.score.profile_variants import wants_profile_scores

    if splicing and asked is None:
        return False
    profile = wants_profile_scores(read_metadata(model_path).architecture, asked)
    if profile and logits:
        raise ConfigError("--logits: not for profile scores (give --no-profile-scores for the counts table)")
    return profile


def load_profile_scorer(model_path: str, device: str | None, rc: str | None) -> Any:
    """The scorer of profile scores for the model file (strands as ``rc``; None: its ``rc_mode``)."""
    from seqcnn.modelfile import load_model
    from seqcnn.score.profile_variants import profile_scorer

    return profile_scorer(load_model(model_path, device=device), device=device, rc=rc)
