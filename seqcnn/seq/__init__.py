"""Sequences in and out, no models: text, one-hot arrays, sequence files and motif files.

One-hot sequences are ``(N, 4, L)`` arrays over A, C, G, T (IUPAC codes fractional, N = 0.25
each); coordinates are 0-based, half-open (BED) except where a format says otherwise (VCF POS).
Readers stream where files can be large and raise :class:`~seqcnn.errors.InputError` naming the
file, record and position of bad data; bad arguments raise :class:`~seqcnn.errors.ConfigError`.

Importing the subpackage is cheap: pandas, numba and pyjaspar load on first use.
"""

from __future__ import annotations

from seqcnn.seq.alphabet import DNA, RNA, complement
from seqcnn.seq.encode import decode, one_hot, pad_or_crop, reverse_complement, upcast
from seqcnn.seq.fasta import read_fasta, read_fasta_one_hot, write_fasta
from seqcnn.seq.genome import BedInterval, Genome, bed_sequences, iter_bed, iter_bed_sequences, read_bed
from seqcnn.seq.jaspar import DEFAULT_MOTIFS, jaspar_motifs, random_jaspar_motifs
from seqcnn.seq.labels import align_labels, read_labels
from seqcnn.seq.meme import Motif, format_meme, read_meme, write_jaspar, write_meme
from seqcnn.seq.shuffle import kmer_shuffle, shuffle_one_hot
from seqcnn.seq.simulate import simulate_dataset
from seqcnn.seq.variants import Variant, VcfStats, read_vcf, variant_windows

__all__ = [
    # alphabet and one-hot encoding
    "DNA",
    "RNA",
    "complement",
    "decode",
    "one_hot",
    "pad_or_crop",
    "reverse_complement",
    "upcast",
    # sequence files and genomes
    "BedInterval",
    "Genome",
    "iter_bed",
    "bed_sequences",
    "iter_bed_sequences",
    "read_bed",
    "read_fasta",
    "read_fasta_one_hot",
    "write_fasta",
    # labels
    "align_labels",
    "read_labels",
    # variants
    "Variant",
    "VcfStats",
    "read_vcf",
    "variant_windows",
    # shuffles and simulated data
    "kmer_shuffle",
    "shuffle_one_hot",
    "simulate_dataset",
    # motifs
    "DEFAULT_MOTIFS",
    "Motif",
    "format_meme",
    "jaspar_motifs",
    "random_jaspar_motifs",
    "read_meme",
    "write_jaspar",
    "write_meme",
]
