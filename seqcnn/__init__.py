"""seqcnn: convolutional neural networks for genomic sequences (and images).

Everything a pipeline needs is importable from the package itself::

    from seqcnn import load_model, predict, ism

    model = load_model("data/example/model.safetensors")
    scores = predict(model, ["ACGT" * 50])          # DataFrame: one row per sequence, one column per task
    maps = ism(model, ["ACGT" * 50])                 # ISMResult: delta (N, 4, L, T), reference (N, T)

The names below are listed in ``__all__`` and are visible to IDEs and type checkers; each is
imported on first use, so ``import seqcnn`` stays cheap (no PyTorch until a name needs it). No
public name equals a submodule name, so importing a submodule never shadows a function.

- scoring: :func:`predict`, :class:`Scorer`, :func:`score_fasta`, :func:`score_records`,
  :func:`score_windows`, :func:`score_variants`, :func:`variant_effects`
- in-silico mutagenesis: :func:`ism`, :func:`naive_ism`, :class:`ISMResult`, :func:`mutation_map`,
  :func:`importance`, :class:`ISMFallbackWarning`
- attributions: :func:`attribute` (every method, input x gradient included),
  :func:`saliency`, :func:`integrated_gradients`, :func:`deeplift_shap`, :func:`deep_lift_shap` (the same
  exact DeepLIFT/SHAP as arrays), :func:`grad_cam`, :func:`occlusion`,
  :func:`activation_maps`, :func:`explain` (:class:`Attribution`, :class:`Explanation`)
- motifs: :func:`extract_filter_motifs`, :func:`annotate`, :func:`load_targets`,
  :func:`motif_report` (:class:`ReportOptions`, :class:`MotifReport`), :func:`run_demo`; TF-MoDISco:
  :func:`modisco_patterns`, :func:`modisco_report` (:class:`ModiscoOptions`)
- in-silico experiments: :func:`marginalize`, :func:`spacing`, :func:`ablation`
- training: :func:`fit`, :class:`RunConfig`, :func:`load_config`; datasets from peaks, a genome and
  bigWigs: :func:`build_dataset` (:class:`DatasetOptions`)
- model files and models: :func:`load_model`, :func:`save_model`, :class:`ModelMetadata`,
  :func:`export_model`, :func:`build_model`, :func:`list_models`
- published models: :func:`import_spliceai` (SpliceAI's released weights), :func:`splice_deltas`
  (SpliceAI-style variant scores), :func:`read_gene_annotation`
- sequences: :func:`one_hot`, :func:`decode`, :func:`reverse_complement`, :func:`read_fasta`
- errors: :class:`SeqcnnError` and its kinds :class:`InputError`, :class:`ConfigError`,
  :class:`ModelFileError`
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from seqcnn._version import __version__
from seqcnn.errors import ConfigError, InputError, ModelFileError, SeqcnnError

if TYPE_CHECKING:
    from seqcnn.config import RunConfig, load_config
    from seqcnn.data.build import DatasetOptions, build_dataset
    from seqcnn.export import export_model
    from seqcnn.interpret.attribution import (
        Attribution,
        attribute,
        deep_lift_shap,
        deeplift_shap,
        integrated_gradients,
        saliency,
    )
    from seqcnn.interpret.cam import activation_maps, grad_cam, occlusion
    from seqcnn.interpret.experiments import ablation, marginalize, spacing
    from seqcnn.interpret.explain import Explanation, explain
    from seqcnn.interpret.ism import ISMFallbackWarning, ISMResult, importance, ism, mutation_map, naive_ism
    from seqcnn.modelfile import ModelMetadata, load_model, save_model
    from seqcnn.models import build_model, list_models
    from seqcnn.models.convert import import_spliceai
    from seqcnn.motifs.annotate import annotate, load_targets
    from seqcnn.motifs.extract import extract_filter_motifs
    from seqcnn.motifs.modisco import modisco_patterns
    from seqcnn.score import (
        Scorer,
        predict,
        score_fasta,
        score_records,
        score_variants,
        score_windows,
        variant_effects,
    )
    from seqcnn.score.splice_variants import read_gene_annotation, splice_deltas
    from seqcnn.seq.encode import decode, one_hot, reverse_complement
    from seqcnn.seq.fasta import read_fasta
    from seqcnn.train.loop import fit
    from seqcnn.workflows.demo import run_demo
    from seqcnn.workflows.modisco_report import ModiscoOptions, modisco_report
    from seqcnn.workflows.motif_pipeline import MotifReport, ReportOptions, motif_report

# module that provides each lazily imported public name (the package-level re-exports where the
# package has them, so that moving a definition inside a package does not break this map)
_LAZY: dict[str, str] = {
    # scoring and variant effects
    "predict": "seqcnn.score",
    "Scorer": "seqcnn.score",
    "score_fasta": "seqcnn.score",
    "score_records": "seqcnn.score",
    "score_windows": "seqcnn.score",
    "score_variants": "seqcnn.score",
    "variant_effects": "seqcnn.score",
    # in-silico mutagenesis
    "ism": "seqcnn.interpret.ism",
    "naive_ism": "seqcnn.interpret.ism",
    "ISMResult": "seqcnn.interpret.ism",
    "ISMFallbackWarning": "seqcnn.interpret.ism",
    "mutation_map": "seqcnn.interpret.ism",
    "importance": "seqcnn.interpret.ism",
    # attributions, Grad-CAM, occlusion
    "attribute": "seqcnn.interpret.attribution",
    "saliency": "seqcnn.interpret.attribution",
    "integrated_gradients": "seqcnn.interpret.attribution",
    "deeplift_shap": "seqcnn.interpret.attribution",
    "deep_lift_shap": "seqcnn.interpret.attribution",
    "Attribution": "seqcnn.interpret.attribution",
    "activation_maps": "seqcnn.interpret.cam",
    "Explanation": "seqcnn.interpret.explain",
    "grad_cam": "seqcnn.interpret.cam",
    "occlusion": "seqcnn.interpret.cam",
    "explain": "seqcnn.interpret.explain",
    # motifs and the motif report
    "extract_filter_motifs": "seqcnn.motifs.extract",
    "annotate": "seqcnn.motifs.annotate",
    "load_targets": "seqcnn.motifs.annotate",
    "motif_report": "seqcnn.workflows",
    "MotifReport": "seqcnn.workflows",
    "ReportOptions": "seqcnn.workflows",
    "run_demo": "seqcnn.workflows",
    # training
    "fit": "seqcnn.train.loop",
    "RunConfig": "seqcnn.config",
    "load_config": "seqcnn.config",
    "build_dataset": "seqcnn.data.build",
    "DatasetOptions": "seqcnn.data.build",
    # model files, export, models
    "load_model": "seqcnn.modelfile",
    "save_model": "seqcnn.modelfile",
    "ModelMetadata": "seqcnn.modelfile",
    "export_model": "seqcnn.export",
    "build_model": "seqcnn.models",
    "list_models": "seqcnn.models",
    # published models
    "import_spliceai": "seqcnn.models.convert",
    "splice_deltas": "seqcnn.score.splice_variants",
    "read_gene_annotation": "seqcnn.score.splice_variants",
    # sequences
    "one_hot": "seqcnn.seq.encode",
    "decode": "seqcnn.seq.encode",
    "reverse_complement": "seqcnn.seq.encode",
    "read_fasta": "seqcnn.seq.fasta",
    # TF-MoDISco and in-silico experiments
    "modisco_patterns": "seqcnn.motifs.modisco",
    "modisco_report": "seqcnn.workflows.modisco_report",
    "ModiscoOptions": "seqcnn.workflows.modisco_report",
    "marginalize": "seqcnn.interpret.experiments",
    "spacing": "seqcnn.interpret.experiments",
    "ablation": "seqcnn.interpret.experiments",
}

__all__ = [
    "__version__", "SeqcnnError", "InputError", "ConfigError", "ModelFileError", "predict", "Scorer",
    "score_fasta", "score_records", "score_windows", "score_variants", "ism", "naive_ism", "ISMResult",
    "attribute", "saliency", "integrated_gradients", "deeplift_shap", "grad_cam",
    "occlusion", "explain", "extract_filter_motifs", "annotate", "load_targets", "motif_report", "fit",
    "RunConfig", "load_config", "load_model", "save_model", "ModelMetadata", "export_model", "build_model",
    "list_models", "one_hot", "decode", "reverse_complement", "read_fasta", "variant_effects",
    "ISMFallbackWarning", "mutation_map", "importance", "Attribution", "activation_maps", "Explanation",
    "MotifReport", "ReportOptions", "run_demo", "deep_lift_shap", "import_spliceai", "splice_deltas",
    "read_gene_annotation", "build_dataset", "DatasetOptions",
    "modisco_patterns", "modisco_report", "ModiscoOptions", "marginalize", "spacing", "ablation",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it in the package namespace."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seqcnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
