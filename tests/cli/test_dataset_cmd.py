"""`seqcnn dataset` on the command line (issue 16): bad input ends with exit status 2, one line naming the
file, line and value, and no dataset directory; a good build trains with `seqcnn train` as it is, binary
labels (DeepBind) and base-resolution profiles (BPNet).

The genome is the real hg19 chr17:1-40,000 excerpt (data/genomes/, from pyfaidx's tests) plus two small
random contigs named chr7 and chr8, so the default chromosome split (valid chr7, test chr8, chr9) applies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyBigWig
import pytest

from seqcnn.seq.fasta import read_fasta

CHR17 = Path(__file__).resolve().parents[2] / "data" / "genomes" / "chr17.hg19.part.fa"
PEAKS = "".join(f"chr17\t{s}\t{s + 100}\tp{i}\t0\t.\t1\t1\t1\t50\n"
                for i, s in enumerate(range(2000, 38000, 4000)))
PEAKS += "chr7\t1000\t1100\tq1\t0\t.\t1\t1\t1\t40\nchr8\t1500\t1600\tq2\t0\t.\t1\t1\t1\t60\n"


@pytest.fixture
def genome(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    extra = "".join(f">{c}\n{''.join(rng.choice(list('ACGT'), 3000))}\n" for c in ("chr7", "chr8"))
    path = tmp_path / "genome.fa"
    path.write_text(CHR17.read_text() + extra)
    (tmp_path / "peaks.narrowPeak").write_text(PEAKS)
    return path


def _bigwig(path: Path, chroms: dict[str, int]) -> Path:
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(chroms.items()))
    for chrom, size in chroms.items():
        starts = list(range(0, size - 10, 10))
        bw.addEntries(chrom, starts, values=[float(1 + (s // 10) % 7) for s in starts], span=10)
    bw.close()
    return path


BAD = {
    "end-not-after-start": ("chr17\t500\t500\n", [], "line 1: peak end 500 is not after its start 500"),
    "end-before-start": ("chr17\t500\t400\n", [], "line 1: need 0 <= start <= end, got 500, 400"),
    "missing-contig": ("chr17\t100\t300\n17\t100\t300\n", [], "line 2: chromosome '17' is not in the genome"),
    "past-contig-end": ("chr17\t39900\t40100\n", [],
                        "line 1: interval chr17:39900-40100 runs past the end of chr17 (length 40000)"),
    "summit-outside": ("chr17\t100\t200\tp\t0\t.\t1\t1\t1\t100\n", [],
                       "line 1: narrowPeak summit offset 100 is not inside the interval 100-200"),
    "empty": ("track name=nothing\n# no peaks\n", [], "no intervals in BED file"),
    "all-blacklisted": ("chr17\t100\t300\nchr17\t900\t1000\n", ["--blacklist", "black.bed"],
                        "all 2 peaks have windows (200 bp) overlapping the blacklist"),
    "bigwig-of-another-assembly": ("chr17\t100\t300\n", ["--signal", "other.bw"],
                                   "chromosome 'chr17' (needed by peaks.bed line 1) is not in this bigWig; "
                                   "did you mean '17'?"),
    "too-many-negatives": (PEAKS, ["--ratio", "1000"],
                           "11000 negatives requested (1000 per positive) but only"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exit_2_one_line_no_dataset(case: str, genome: Path, run, capsys, monkeypatch) -> None:
    text, extra, message = BAD[case]
    root = genome.parent
    monkeypatch.chdir(root)
    Path("peaks.bed").write_text(text)
    Path("black.bed").write_text("chr17\t0\t40000\n")
    _bigwig(root / "other.bw", {"17": 40000, "7": 3000, "8": 3000})
    code, out, err = run(["dataset", "--genome", genome, "--peaks", "peaks.bed", "--length", "200",
                          "-o", "ds", "--quiet", *extra], capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("seqcnn: error: "), err
    assert message in err, err
    named = "other.bw" if "bigwig" in case else ("genome.fa" if case == "too-many-negatives" else "peaks.bed")
    assert named in err
    assert out == ""
    assert not Path("ds").exists() and not list(Path(".").glob(".ds.*"))


def test_missing_contig_names_the_closest_contig(genome: Path, run, capsys, monkeypatch) -> None:
    monkeypatch.chdir(genome.parent)
    Path("peaks.bed").write_text("17\t100\t300\n")
    code, _, err = run(["dataset", "--genome", genome, "--peaks", "peaks.bed", "--length", "200", "-o", "ds"],
                       capsys)
    assert code == 2 and "peaks.bed: line 1: chromosome '17'" in err and "did you mean 'chr17'?" in err


def test_build_then_train_binary_and_profile(genome: Path, run, capsys, monkeypatch) -> None:
    monkeypatch.chdir(genome.parent)
    sizes = {"chr17": 40000, "chr7": 3000, "chr8": 3000}
    _bigwig(genome.parent / "plus.bw", sizes)
    _bigwig(genome.parent / "minus.bw", sizes)
    code, out, err = run(["dataset", "--genome", genome, "--peaks", "peaks.narrowPeak:ctcf", "--length",
                          "200", "--signal", "plus.bw,minus.bw:reads", "--profile", "-o", "ds"], capsys)
    assert code == 0, err
    lines = {line.split("\t")[0]: line.split("\t")[1:] for line in err.splitlines()}
    assert [lines[s][1] for s in ("train", "valid", "test")] == ["positives ctcf=9", "positives ctcf=1",
                                                                  "positives ctcf=1"]
    assert sum(int(lines[s][2].split()[1]) for s in ("train", "valid", "test")) == 11  # gc-matched, ratio 1
    assert "config\tseqcnn train ds/config.bpnet.yaml" in err
    assert "config\tseqcnn train ds/config.deepbind.yaml" in err
    records = dict(read_fasta("ds/train.fa"))
    chr17 = "".join(CHR17.read_text().split("\n")[1:])
    assert records["chr17:1950-2150"] == chr17[1950:2150]  # the summit-centred window, soft-masking kept
    for model, metric in (("deepbind", "auroc="), ("bpnet", "profile_pearson=")):
        code, out, err = run(["train", f"ds/config.{model}.yaml", "--set", "train.epochs=1",
                              "train.threads=1", "output.plots=false", "--quiet"], capsys)
        assert code == 0, err
        assert metric in out and "model.safetensors" in out
