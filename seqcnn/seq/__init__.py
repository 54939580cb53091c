"""seqcnn.seq: sequences in and out, no models here.

alphabet (IUPAC table, complement), encode (one-hot, decode, reverse complement, pad/crop),
fasta (streaming reader/writer), genome (BED + pyfaidx windows), labels (label tables),
shuffle (exact k-mer shuffles), meme / jaspar (motif files, offline JASPAR), simulate
(planted-motif data sets), variants (VCF windows). Import the submodules directly.
"""
