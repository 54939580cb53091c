"""seqcnn: convolutional neural networks for genomic sequences (and images).

The public API is imported lazily, so ``import seqcnn`` is cheap::

    import seqcnn
    model = seqcnn.load_model("model.safetensors")
    scores = seqcnn.score.predict(model, ["ACGT..."])
"""

from __future__ import annotations

import importlib
from typing import Any

from seqcnn._version import __version__
from seqcnn.errors import ConfigError, InputError, ModelFileError, SeqcnnError

# public name -> module that defines it
_PUBLIC: dict[str, str] = {
    "one_hot": "seqcnn.seq.encode",
    "decode": "seqcnn.seq.encode",
    "reverse_complement": "seqcnn.seq.encode",
    "read_fasta": "seqcnn.seq.fasta",
    "build_model": "seqcnn.models.registry",
    "list_models": "seqcnn.models.registry",
    "load_model": "seqcnn.modelfile",
    "save_model": "seqcnn.modelfile",
    "ModelMetadata": "seqcnn.modelfile",
    "fit": "seqcnn.train.loop",
    "predict": "seqcnn.score.predict",
    "ism": "seqcnn.interpret.ism",
}

__all__ = ["__version__", "ConfigError", "InputError", "ModelFileError", "SeqcnnError", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'seqcnn' has no attribute {name!r}")
