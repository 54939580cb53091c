"""Write the small example inputs in data/example/ that the README tour and tests use.

Deterministic (seeded); run once and commit the outputs (a few hundred kB):
  sequences.fa    300 held-out sequences of a `seqcnn simulate` set (200 bp, 12 planted JASPAR motifs),
  labels.tsv      their multi-hot labels; motifs.meme the planted motifs; sites.tsv where they are
  genome.fa       two 20 kbp chromosomes with planted motif sites (+ .fai index made by pyfaidx)
  regions.bed     intervals of that genome, both strands
  variants.vcf    SNVs, an indel, a multi-allelic record and a REF that disagrees with the genome
  model.safetensors  koo_cnn (exponential first layer) trained on 12,000 simulated sequences
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from seqcnn.config import AugmentConfig, DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig
from seqcnn.seq.fasta import read_fasta, write_fasta
from seqcnn.seq.jaspar import jaspar_motifs
from seqcnn.seq.simulate import simulate_dataset
from seqcnn.train.loop import fit

OUT = Path(__file__).resolve().parents[1] / "data" / "example"
KOO = {"filters": [48, 64], "kernel_sizes": [19, 5], "pool1": 25, "hidden": 128,
       "dropouts": [0.1, 0.1, 0.3], "first_activation": "exp"}


def write_genome(path: Path, rng: np.random.Generator) -> list[tuple[str, int, str]]:
    """Random chromosomes with a CTCF and a GATA site planted every 2 kbp; returns the sites."""
    motifs = {m.name: m for m in jaspar_motifs(["MA0139.2", "MA0037.5"])}
    sites, lines = [], []
    for chrom in ("chr1", "chr2"):
        seq = rng.choice(list("ACGT"), size=20_000)
        for i, start in enumerate(range(1000, 19_000, 2000)):
            motif = list(motifs.values())[i % 2]
            site = [rng.choice(list("ACGT"), p=row / row.sum()) for row in motif.pwm]
            seq[start:start + len(site)] = site
            sites.append((chrom, start, motif.name))
        text = "".join(seq)
        lines.append(f">{chrom}\n" + "\n".join(text[i:i + 80] for i in range(0, len(text), 80)))
    path.write_text("\n".join(lines) + "\n")
    return sites


def write_bed(path: Path, sites: list[tuple[str, int, str]]) -> None:
    rows = [f"{c}\t{s - 90}\t{s + 110}\t{name}_{i}\t0\t{'+-'[i % 2]}" for i, (c, s, name) in enumerate(sites)]
    path.write_text("\n".join(rows) + "\n")


def write_vcf(path: Path, genome: Path) -> None:
    from pyfaidx import Fasta

    fasta = Fasta(str(genome))
    records = []
    for i, pos in enumerate([1005, 3010, 5003, 7008, 9012, 11_004]):
        ref = str(fasta["chr1"][pos - 1]).upper()
        alt = "ACGT"[("ACGT".index(ref) + 1 + i % 3) % 4]
        records.append(f"chr1\t{pos}\tvar{i + 1}\t{ref}\t{alt}\t.\tPASS\t.")
    ref = str(fasta["chr2"][2999:3002]).upper()
    records.append(f"chr2\t3000\tdel1\t{ref}\t{ref[0]}\t.\tPASS\t.")
    ref = str(fasta["chr2"][4999]).upper()
    others = [b for b in "ACGT" if b != ref]
    records.append(f"chr2\t5000\tmulti1\t{ref}\t{others[0]},{others[1]}\t.\tPASS\t.")
    wrong = "ACGT"[("ACGT".index(str(fasta["chr2"][6999]).upper()) + 2) % 4]
    records.append(f"chr2\t7000\tref_mismatch\t{wrong}\tA\t.\tPASS\t.")
    header = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=20000>", "##contig=<ID=chr2,length=20000>",
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    path.write_text("\n".join(header + records) + "\n")


def train_model(sim: Path, out: Path) -> None:
    run = out.parent / "run.tmp"
    shutil.rmtree(run, ignore_errors=True)
    config = RunConfig(
        data=DataConfig(kind="simulate", path=str(sim), batch_size=100,
                        augment=AugmentConfig(rc=True, shift=3)),
        model=ModelConfig(name="koo_cnn", kwargs=KOO, rc_mode="mean"),
        train=TrainConfig(epochs=10, lr=5e-3, scheduler="cosine", seed=0),
        output=OutputConfig(dir=str(run), plots=False))
    result = fit(config, out_dir=run)
    shutil.copyfile(result.model_path, out)
    shutil.rmtree(run)
    print(f"example model: test {result.test_metrics}")


def keep_examples(sim: dict[str, Path], out: Path, n: int) -> None:
    """The first ``n`` test sequences, their labels and sites, and the planted motifs."""
    records = list(read_fasta(str(sim["test"])))[:n]
    write_fasta(records, out / "sequences.fa")
    ids = {r[0] for r in records}
    labels = pd.read_csv(sim["labels"], sep="\t")
    labels[labels["id"].isin(ids)].to_csv(out / "labels.tsv", sep="\t", index=False)
    sites = pd.read_csv(sim["sites"], sep="\t")
    sites[sites["id"].isin(ids)].to_csv(out / "sites.tsv", sep="\t", index=False)
    shutil.copyfile(sim["motifs"], out / "motifs.meme")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        sim = simulate_dataset(Path(tmp) / "sim", n_sequences=12_000, length=200, seed=0)
        train_model(Path(tmp) / "sim", OUT / "model.safetensors")
        keep_examples(sim, OUT, 300)
    sites = write_genome(OUT / "genome.fa", rng)
    write_bed(OUT / "regions.bed", sites)
    write_vcf(OUT / "variants.vcf", OUT / "genome.fa")


if __name__ == "__main__":
    main()
