"""Datasets from experiments: peaks (BED, narrowPeak, broadPeak), a genome FASTA and bigWig signal in,
a directory ``seqcnn train`` reads out (``seqcnn dataset``).

:func:`build_dataset` with :class:`DatasetOptions` is the entry point; the steps live in their own
modules: ``peaks`` (reading and checking peak files), ``windows`` (positive windows, multi-task labels,
chromosome splits), ``negatives`` (GC-matched genome windows, shuffles), ``signal`` (bigWig targets),
``intervals`` (vectorised overlap tests), ``writer`` (the directory and manifest) and ``skeletons``
(training configs).
"""

from __future__ import annotations

from seqcnn.data.build.builder import DatasetOptions, DatasetResult, build_dataset, checked_options
from seqcnn.data.build.windows import DEFAULT_TEST_CHROMS, DEFAULT_VALID_CHROMS

__all__ = ["DEFAULT_TEST_CHROMS", "DEFAULT_VALID_CHROMS", "DatasetOptions", "DatasetResult", "build_dataset",
           "checked_options"]
