"""Write the malformed-input corpus in tests/data/bad/ (run once; the files are committed).

Each file is named <kind>_<what>.<ext>; tests/test_bad_input.py runs the matching CLI command on it.
"""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "bad"
GOOD = "ACGTACGTTGCAACGTGGCCAATTACGTACGTAGCTAGCTAGGATCCAAGCTT" * 2  # 106 bp


def gz(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()


def fasta_cases() -> dict[str, bytes]:
    good = f">s1\n{GOOD}\n>s2\n{GOOD}\n".encode()
    rng = random.Random(0)
    return {
        "fasta_empty.fa": b"",
        "fasta_whitespace_only.fa": b"\n\n   \n",
        "fasta_no_header.fa": f"{GOOD}\n{GOOD}\n".encode(),
        "fasta_header_no_sequence.fa": f">s1\n>s2\n{GOOD}\n".encode(),
        "fasta_last_record_empty.fa": f">s1\n{GOOD}\n>s2\n".encode(),
        "fasta_duplicate_ids.fa": f">s1\n{GOOD}\n>s1\n{GOOD}\n".encode(),
        "fasta_invalid_base_digit.fa": f">s1\n{GOOD[:40]}7{GOOD[41:]}\n".encode(),
        "fasta_invalid_base_gap.fa": f">s1\n{GOOD[:10]}-{GOOD[11:]}\n".encode(),
        "fasta_invalid_base_star.fa": f">s1\n{GOOD}\n>s2\n{GOOD[:99]}*\n".encode(),
        "fasta_space_inside.fa": f">s1\n{GOOD[:50]} {GOOD[50:]}\n".encode(),
        "fasta_protein.fa": b">p1\nMKVLAAGIVGLLLAQWERTYIPSDFGHKLCVNM\n",
        "fasta_binary_garbage.fa": rng.randbytes(2048),
        "fasta_truncated.fa.gz": gz(good)[:-20],
        "fasta_gzip_magic_then_garbage.fa.gz": b"\x1f\x8b\x08\x00" + rng.randbytes(300),
        "fasta_empty_id.fa": f">\n{GOOD}\n".encode(),
        "fasta_utf16.fa": good.decode().encode("utf-16"),
        "fasta_huge_single_line.fa": b">s1\n" + b"ACGT" * 250_000 + b"!\n",
        "fasta_bom_invalid.fa": b"\xef\xbb\xbf>s1\n" + GOOD.encode() + b"\n>s2\nACGTNNQ\n",
    }


def bed_cases() -> dict[str, bytes]:
    return {
        "bed_empty.bed": b"",
        "bed_negative_start.bed": b"chr1\t-5\t100\tr1\t0\t+\n",
        "bed_reversed.bed": b"chr1\t300\t100\tr1\t0\t+\n",
        "bed_non_integer.bed": b"chr1\tten\t100\tr1\t0\t+\n",
        "bed_too_few_columns.bed": b"chr1\t100\n",
        "bed_unknown_chrom.bed": b"chrZ\t100\t200\tr1\t0\t+\n",
        "bed_bad_strand.bed": b"chr1\t100\t200\tr1\t0\tx\n",
        "bed_binary_garbage.bed": random.Random(1).randbytes(512).replace(b"\n", b"\x00"),
    }


def vcf_cases() -> dict[str, bytes]:
    header = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    return {
        "vcf_empty.vcf": b"",
        "vcf_no_header.vcf": b"chr1\t150\trs1\tA\tG\t.\t.\t.\n",
        "vcf_unknown_chrom.vcf": header + b"chrZ\t150\trs1\tA\tG\t.\t.\t.\n",
        "vcf_pos_zero.vcf": header + b"chr1\t0\trs1\tA\tG\t.\t.\t.\n",
        "vcf_pos_not_integer.vcf": header + b"chr1\tpos\trs1\tA\tG\t.\t.\t.\n",
        "vcf_bad_alt.vcf": header + b"chr1\t150\trs1\tA\tZ\t.\t.\t.\n",
        "vcf_too_few_columns.vcf": header + b"chr1\t150\trs1\n",
        "vcf_truncated.vcf.gz": gz(header + b"chr1\t150\trs1\tA\tG\t.\t.\t.\n" * 50)[:-30],
        "vcf_pos_past_end.vcf": header + b"chr1\t999999\trs1\tA\tG\t.\t.\t.\n",
    }


def config_cases() -> dict[str, bytes]:
    return {
        "config_empty.yaml": b"",
        "config_not_yaml.yaml": b"model: [unclosed\n  name: deepbind\n",
        "config_unknown_top_key.yaml": b"modle:\n  name: deepbind\n",
        "config_unknown_train_key.yaml": b"model:\n  name: deepbind\ntrain:\n  learning_rat: 0.01\n",
        "config_wrong_type.yaml": b"model:\n  name: deepbind\ntrain:\n  epochs: many\n",
        "config_unknown_model.yaml": b"model:\n  name: deepbindd\n",
        "config_not_mapping.yaml": b"- just\n- a list\n",
        "config_binary.yaml": bytes(range(256)),
    }


def label_cases() -> dict[str, bytes]:
    return {
        "labels_empty.tsv": b"",
        "labels_no_id_column.tsv": b"name\ttask1\ns1\t1\ns2\t0\n",
        "labels_non_numeric.tsv": b"id\ttask1\ns1\tyes\ns2\t0\n",
        "labels_duplicate_ids.tsv": b"id\ttask1\ns1\t1\ns1\t0\n",
        "labels_missing_ids.tsv": b"id\ttask1\nother1\t1\nother2\t0\n",
    }


def image_cases() -> dict[str, bytes]:
    return {
        "image_truncated.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        "image_garbage.png": random.Random(2).randbytes(300),
        "image_empty.png": b"",
        "image_npz_not_zip.npz": b"not a zip archive at all",
    }


def model_cases() -> dict[str, bytes]:
    return {
        "model_empty.safetensors": b"",
        "model_garbage.safetensors": random.Random(3).randbytes(1000),
        "model_huge_header_length.safetensors": (2**60).to_bytes(8, "little") + b"{}",
        "model_json_only.safetensors": (2).to_bytes(8, "little") + b"{}",
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cases = {**fasta_cases(), **bed_cases(), **vcf_cases(), **config_cases(), **label_cases(),
             **image_cases(), **model_cases()}
    for name, data in cases.items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(cases)} files to {OUT}")


if __name__ == "__main__":
    main()
