"""The fast exact ISM engine: recompute only what a substitution can change.

``FastISM(model, start, end)`` records a model's forward pass, plans a windowed step for every op and
runs blocks of substitutions through them; :class:`Unsupported` says why a model cannot be analysed.
Everything else in this package is internal to the engine.
"""

from seqcnn.interpret.ism.engine.fast import FastISM, Survey
from seqcnn.interpret.ism.engine.trace import Unsupported

__all__ = ["FastISM", "Survey", "Unsupported"]
