"""VCF reading and ref/alt windows, checked against hand-written answers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from seqcnn.errors import InputError
from seqcnn.seq.variants import Variant, VcfStats, read_vcf, variant_windows

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


class DictGenome:
    """The ``seqcnn.seq.genome.Genome`` contract on a dict: N past the end, InputError if unknown."""

    def __init__(self, seqs: dict[str, str]) -> None:
        self.seqs = seqs
        self.chroms = {k: len(v) for k, v in seqs.items()}

    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> str:
        if chrom not in self.chroms:
            raise InputError(f"unknown chromosome {chrom!r}")
        seq = self.seqs[chrom][start:end]
        return seq + "N" * (end - start - len(seq))


#                 0         1         2
#                 0123456789012345678901234
GENOME = DictGenome({"chr1": "AACCGGTTACGTACGTTTGGCCAAT"})


def _write(tmp_path: Path, body: str, name: str = "v.vcf") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def test_records_are_read_and_multi_allelic_ones_split(tmp_path) -> None:
    path = _write(tmp_path, "chr1\t5\trs1\tG\tA,T\t.\t.\t.\n"
                            "chr1\t9\t.\tA\t<DEL>,C\t50\tPASS\tX=1\n"
                            "chr1\t12\trs3\tTA\t*\t.\t.\t.\n")
    stats = VcfStats()
    variants = list(read_vcf(path, stats))
    assert variants == [Variant("chr1", 5, "rs1", "G", "A"), Variant("chr1", 5, "rs1", "G", "T"),
                        Variant("chr1", 9, ".", "A", "C")]
    assert (stats.n_records, stats.n_split) == (3, 2)  # two records with a second ALT
    assert stats.skipped == ["chr1:9:<DEL>", "rs3:*"]


def test_gzipped_vcf(tmp_path) -> None:
    path = tmp_path / "v.vcf.gz"
    path.write_bytes(gzip.compress((HEADER + "chr1\t3\tx\tC\tG\t.\t.\t.\n").encode()))
    assert list(read_vcf(path)) == [Variant("chr1", 3, "x", "C", "G")]


@pytest.mark.parametrize(("name", "message"), [
    ("vcf_empty.vcf", "empty VCF"),
    ("vcf_no_header.vcf", "line 1: no '#CHROM' header"),
    ("vcf_pos_zero.vcf", "line 3: POS must be a positive integer, got '0'"),
    ("vcf_pos_not_integer.vcf", "POS must be a positive integer, got 'pos'"),
    ("vcf_bad_alt.vcf", "ALT must be bases ACGTN .*'Z'"),
    ("vcf_too_few_columns.vcf", "at least 5 tab-separated columns, found 3"),
    ("vcf_truncated.vcf.gz", "truncated gzip|corrupt gzip|columns"),
])
def test_bad_vcf_files_are_input_errors(name: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        list(read_vcf(BAD / name))
    assert str(info.value).startswith(str(BAD / name))


def test_header_only_vcf_has_no_records(tmp_path) -> None:
    with pytest.raises(InputError, match="no variant records"):
        list(read_vcf(_write(tmp_path, "")))


def test_skip_invalid_leaves_out_bad_ref_and_alt_records_counted_by_reason(tmp_path) -> None:
    body = ("chr1\t5\tok\tG\tA\t.\t.\t.\n"
            "chr1\t6\tm\tM\tA\t.\t.\t.\n"        # janggu sample.vcf: an IUPAC REF
            "chr1\t7\tstar\t*\tA\t.\t.\t.\n"
            "chr1\t8\tdot\t.\tA\t.\t.\t.\n"
            "chr1\t9\tz\tA\tC,Z\t.\t.\t.\n"      # one bad ALT: the whole record is left out
            "chr1\t10\tsym\tC\t<DEL>,T\t.\t.\t.\n")
    path = _write(tmp_path, body)
    seen: list[tuple] = []
    stats = VcfStats(on_reject=lambda text, reason: seen.append((text, reason)))
    variants = list(read_vcf(path, stats, skip_invalid=True))
    assert variants == [Variant("chr1", 5, "ok", "G", "A"), Variant("chr1", 10, "sym", "C", "T")]
    assert [(v.line, v.text) for v in variants] == [(3, body.splitlines()[0]), (8, body.splitlines()[5])]
    assert stats.invalid == {"bad REF": 3, "bad ALT": 1} and stats.n_invalid == 4
    assert stats.n_records == 6 and stats.n_split == 1 and stats.skipped == ["sym:<DEL>"]
    assert seen == [(body.splitlines()[1], "bad REF 'M' (not bases ACGTN)"),
                    (body.splitlines()[2], "bad REF '*' (not bases ACGTN)"),
                    (body.splitlines()[3], "bad REF '.' (not bases ACGTN)"),
                    (body.splitlines()[4], "bad ALT 'Z' (not bases ACGTN or symbolic)")]
    assert stats.invalid_summary() == "skipped 4 invalid VCF record(s): 3 bad REF, 1 bad ALT"
    assert stats.header == HEADER.splitlines()[-1]
    with pytest.raises(InputError, match=r"v\.vcf:line 4: REF must be bases ACGTN, got 'M'"):
        list(read_vcf(path))


def test_skip_invalid_keeps_structural_faults_fatal() -> None:
    with pytest.raises(InputError, match="line 3: POS must be a positive integer"):
        list(read_vcf(BAD / "vcf_pos_zero.vcf", skip_invalid=True))
    with pytest.raises(InputError, match="at least 5 tab-separated columns"):
        list(read_vcf(BAD / "vcf_too_few_columns.vcf", skip_invalid=True))


def test_rejects_are_counted_once_per_line() -> None:
    stats = VcfStats()
    for _ in range(2):  # two ALT alleles of one record past the contig's end
        stats.reject("past contig end", "chr1:30 is past the end", 7, "line")
    stats.reject("past contig end", "chr1:31 is past the end", 8, "line")
    stats.reject("unknown contig", "unknown contig 'x'")  # made in code: no line, always counted
    stats.reject("unknown contig", "unknown contig 'x'")
    assert stats.invalid == {"past contig end": 2, "unknown contig": 2}
    assert VcfStats().invalid_summary() is None


def test_snv_windows_are_centred() -> None:
    # chr1:9 is the A at 0-based 8; width 5 -> 2 bases before, 2 after
    ref, alt, match = variant_windows(Variant("chr1", 9, "v", "A", "G"), GENOME, 5)
    assert (ref, alt, match) == ("TTACG", "TTGCG", True)
    ref, alt, _ = variant_windows(Variant("chr1", 9, "v", "A", "G"), GENOME, 6)
    assert (ref, alt) == ("TTACGT", "TTGCGT")  # even width: the extra base goes after


def test_indel_windows_keep_the_width() -> None:
    # deletion of CG after the A at chr1:9 (REF ACG -> ALT A)
    ref, alt, match = variant_windows(Variant("chr1", 9, "d", "ACG", "A"), GENOME, 7)
    assert (ref, alt, match) == ("TTACGTA", "GTTATAC", True)
    # insertion of TTT after the A: left flank shrinks by the longer allele's centring
    ref, alt, match = variant_windows(Variant("chr1", 9, "i", "A", "ATTT"), GENOME, 8)
    assert (ref, alt) == ("GTTACGTA", "TTATTTCG")
    assert all(len(s) == 8 for s in (ref, alt))


def test_ref_mismatch_is_flagged_not_fatal() -> None:
    ref, alt, match = variant_windows(Variant("chr1", 9, "m", "C", "G"), GENOME, 5)
    assert match is False
    assert (ref, alt) == ("TTCCG", "TTGCG")  # the VCF's REF is scored, with genome flanks


def test_windows_near_the_ends_are_padded_with_n() -> None:
    ref, alt, _ = variant_windows(Variant("chr1", 1, "s", "A", "T"), GENOME, 5)
    assert (ref, alt) == ("NNAAC", "NNTAC")
    ref, _, _ = variant_windows(Variant("chr1", 25, "e", "T", "A"), GENOME, 5)
    assert ref == "AATNN"


def test_positions_past_the_chromosome_end_and_unknown_chromosomes() -> None:
    with pytest.raises(InputError, match="past the end of chr1 .length 25"):
        variant_windows(Variant("chr1", 26, "p", "A", "T"), GENOME, 5)
    with pytest.raises(InputError, match="unknown chromosome"):
        variant_windows(Variant("chrZ", 2, "z", "A", "T"), GENOME, 5)
    with pytest.raises(InputError, match="^v.vcf:line 9: chr1:26 is past the end"):  # read from a file
        variant_windows(Variant("chr1", 26, "p", "A", "T", 9, "..."), GENOME, 5, file="v.vcf")


def _peak_vep(path: Path, genome: DictGenome) -> int:
    import tracemalloc

    import torch

    from seqcnn.score.scorer import Scorer
    from seqcnn.score.variants import score_variants

    torch.manual_seed(0)
    scorer = Scorer(torch.nn.Sequential(torch.nn.Conv1d(4, 3, 5), torch.nn.AdaptiveMaxPool1d(1),
                                        torch.nn.Flatten()).eval())
    tracemalloc.start()
    for _cols in score_variants(scorer, read_vcf(path), genome, width=40, batch_size=32):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_vep_streams_with_flat_memory(tmp_path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    genome = DictGenome({"chr1": "".join(rng.choice(list("ACGT"), size=5000))})
    paths = []
    for n in (200, 1000):  # the smaller one already fills the input queue (5 batches)
        lines = [f"chr1\t{p}\tv{i}\t{genome.seqs['chr1'][p - 1]}\tA,T\t.\t.\t.\n"
                 for i, p in enumerate(rng.integers(1, 5000, size=n))]
        paths.append(_write(tmp_path, "".join(lines), f"v{n}.vcf"))
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: thread hand-offs would cost more than the work
    try:
        _peak_vep(paths[0], genome)  # warm-up
        small, large = (min(_peak_vep(p, genome) for _ in range(2)) for p in paths)
    finally:
        torch.set_num_threads(threads)
    # 1,600 more alleles: holding their windows (2 x 40 bases each) and rows would add ~0.6 MB
    assert large - small < 200_000, (small, large)
