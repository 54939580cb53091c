"""predict / Scorer: scores equal the plain forward pass, the fast path is exact, input streams."""

from __future__ import annotations

import threading
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.errors import ConfigError, InputError
from seqcnn.modelfile import ModelMetadata, load_model, save_model
from seqcnn.models.registry import build_model, get_spec, list_models
from seqcnn.score.accel.table import TableConv1d
from seqcnn.score.scorer import Scorer
from seqcnn.score.scoring import RecordMax, predict, score_records, score_windows
from seqcnn.score.stream import ScoreStats, background
from seqcnn.seq.alphabet import BYTE_TO_CODE
from seqcnn.seq.codes import codes_of_bytes, codes_to_onehot, encode_codes, onehot_to_codes
from seqcnn.seq.encode import one_hot, pad_or_crop, reverse_complement
from seqcnn.seq.windows import window_starts


def _seqs(n: int, length: int | tuple[int, int], seed: int = 0, letters: str = "ACGT") -> list[str]:
    rng = np.random.default_rng(seed)
    lengths = [length] * n if isinstance(length, int) else rng.integers(*length, size=n)
    return ["".join(rng.choice(list(letters), size=int(k))) for k in lengths]


def _forward(model: nn.Module, seqs: list[str]) -> np.ndarray:
    """Reference: the plain forward pass, one sequence at a time."""
    with torch.no_grad():
        outs = [model(torch.from_numpy(one_hot(s)[None])) for s in seqs]
    return torch.cat([o["counts"] if isinstance(o, dict) else o for o in outs]).numpy()


class TinyGlobal(nn.Module):
    """DeepBind-like: conv, ReLU, global max, linear; any length >= 6."""

    input_length = None
    receptive_field = 6

    def __init__(self, n_tasks: int = 2, padding: int | str = 0) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 5, 6, padding=padding)
        self.fc = nn.Linear(5, n_tasks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).amax(-1))


@pytest.fixture(scope="module")
def tiny() -> TinyGlobal:
    torch.manual_seed(0)
    return TinyGlobal().eval()


@pytest.mark.parametrize(("out_ch", "kernel", "padding", "stride"),
                         [(16, 24, 0, 1), (7, 19, 9, 1), (3, 8, "same", 1), (4, 7, "same", 1), (5, 5, 2, 2),
                          (2, 1, 0, 1), (3, 11, "valid", 3)])
def test_table_conv_equals_dense_conv(out_ch: int, kernel: int, padding: int | str, stride: int) -> None:
    torch.manual_seed(1)
    conv = nn.Conv1d(4, out_ch, kernel, padding=padding, stride=stride)
    with torch.no_grad():
        conv.weight.mul_(10)  # large weights: the check is on absolute differences
    codes = np.random.default_rng(2).integers(0, 6, size=(3, 61)).astype(np.uint8)  # ACGT, N and padding
    x = torch.from_numpy(codes_to_onehot(codes))
    table = TableConv1d(conv)
    token = torch.zeros(()).expand(x.shape)
    table.arm(token, codes)
    with torch.no_grad():
        fast, dense = table(token), conv(x)
    assert fast.shape == dense.shape
    assert torch.max(torch.abs(fast - dense)) < 1e-5
    assert table.n_groups < kernel or kernel == 1  # fewer lookups than kernel positions


def test_table_conv_refuses_inputs_it_was_not_armed_with() -> None:
    table = TableConv1d(nn.Conv1d(4, 2, 3))
    codes = np.zeros((1, 10), dtype=np.uint8)
    table.arm(torch.zeros(()).expand(1, 4, 10), codes)
    with pytest.raises(RuntimeError, match="did not receive"):
        table(torch.zeros(1, 4, 10))
    table.disarm()
    assert table(torch.zeros(1, 4, 10)).shape == (1, 2, 8)  # unarmed: the plain conv


def test_codes_of_bytes_equals_the_table_and_flags_invalid_bytes() -> None:
    rng = np.random.default_rng(7)
    raw = np.frombuffer(b"ACGTNacgtnRYSWKMBDHVU", dtype=np.uint8)[rng.integers(0, 21, size=(3, 5000))]
    codes, valid = codes_of_bytes(raw)
    assert valid and codes.shape == raw.shape and np.array_equal(codes, BYTE_TO_CODE[raw])
    for bad in (b"X", b"-", b"\xc3", b"*"):
        broken = raw.copy()
        broken[2, 4321] = bad[0]
        codes, valid = codes_of_bytes(broken)
        assert not valid and np.array_equal(codes, BYTE_TO_CODE[broken])


def test_codes_round_trip_and_match_one_hot() -> None:
    seq = "ACGTNRYSWKMBDHVacgtnu"
    codes = encode_codes(seq)
    np.testing.assert_array_equal(codes_to_onehot(codes[None])[0], one_hot(seq))
    assert encode_codes("AXG")[1] == 255 and encode_codes("AéG")[1] == 255
    x = one_hot(["ACGTN", "TTTTA"])
    np.testing.assert_array_equal(onehot_to_codes(x), [[0, 1, 2, 3, 4], [3, 3, 3, 3, 0]])
    assert onehot_to_codes(one_hot(["ACGTR"])) is None  # R = 0.5/0.5 is not a code the tables hold


# Per-position models (SpliceAI) score through predict_positions (tests/score/test_positions.py).
@pytest.mark.parametrize("name", [n for n in list_models(dims=1) if get_spec(n).output != "positions"])
def test_registered_models_score_like_their_forward(name: str) -> None:
    torch.manual_seed(0)
    spec = get_spec(name)
    model = build_model(name, **spec.small).eval()
    length = model.input_length or 40
    seqs = _seqs(9, length, seed=3, letters="ACGTN")
    expected = _forward(model, seqs)
    np.testing.assert_allclose(predict(model, seqs, batch_size=4), expected, atol=1e-5)
    for fast in (True, False):  # the table conv where the model allows it, and the plain forward
        records = [(str(i), s) for i, s in enumerate(seqs)]
        scored = score_records(Scorer(model, fast=fast), records, batch_size=4)
        np.testing.assert_allclose(np.concatenate([s for _, s in scored]), expected, atol=1e-5)


def test_fast_path_is_used_for_deepbind_and_basset() -> None:
    for name in ("deepbind", "basset"):
        spec = get_spec(name)
        assert Scorer(build_model(name, **spec.small), fast=True).table is not None, name
        assert Scorer(build_model(name, **spec.small), fast=False).table is None


class PadsFirst(TinyGlobal):
    """Transforms its input before the first conv: the fast path must step aside."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(nn.functional.pad(x, (3, 3), value=0.25))


class UsesInputTwice(TinyGlobal):
    """Reads the raw input again after the conv: only the probe batch can tell."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + x.sum(dim=(1, 2))[:, None]


@pytest.mark.parametrize("cls", [PadsFirst, UsesInputTwice])
def test_models_the_tables_cannot_serve_fall_back(cls: type) -> None:
    torch.manual_seed(0)
    model = cls().eval()
    assert Scorer(model).table is None
    seqs = _seqs(5, (10, 30), seed=4)
    np.testing.assert_allclose(predict(model, seqs), _forward(model, seqs), atol=1e-5)


def test_model_is_not_modified(tiny: TinyGlobal) -> None:
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    predict(tiny, _seqs(3, 20))
    assert isinstance(tiny.conv, nn.Conv1d)
    assert all(torch.equal(before[k], v) for k, v in tiny.state_dict().items())


@pytest.mark.parametrize("rc", ["mean", "max"])
def test_reverse_complement_modes(tiny: TinyGlobal, rc: str) -> None:
    seqs = _seqs(6, (10, 40), seed=5, letters="ACGTN")
    fwd, rev = _forward(tiny, seqs), _forward(tiny, [reverse_complement(s) for s in seqs])
    expected = (fwd + rev) / 2 if rc == "mean" else np.maximum(fwd, rev)
    np.testing.assert_allclose(predict(tiny, seqs, rc=rc), expected, atol=1e-5)
    with pytest.raises(ConfigError, match="rc mode"):
        predict(tiny, seqs, rc="both")


@pytest.mark.parametrize("task_type", ["binary", "multiclass", "regression"])
def test_output_transform_follows_task_type(tmp_path, task_type: str) -> None:
    torch.manual_seed(0)
    kwargs = {"n_tasks": 3, "n_filters": 4, "filter_width": 5, "hidden": 0}
    path = save_model(build_model("deepbind", **kwargs), tmp_path / "m.safetensors",
                      ModelMetadata("deepbind", kwargs, tasks=["a", "b", "c"], task_type=task_type))
    loaded = load_model(path)
    seqs = _seqs(4, 30, seed=6)
    raw = _forward(loaded, seqs)
    np.testing.assert_allclose(predict(loaded, seqs, logits=True), raw, atol=1e-5)
    expected = {"binary": 1 / (1 + np.exp(-raw)),
                "multiclass": np.exp(raw) / np.exp(raw).sum(1, keepdims=True),
                "regression": raw}[task_type]
    np.testing.assert_allclose(predict(loaded, seqs), expected, atol=1e-6)


def test_fixed_length_models_pad_and_crop_centred() -> None:
    torch.manual_seed(0)
    model = build_model("basset", **get_spec("basset").small).eval()  # input_length 50
    seqs = _seqs(3, 50, seed=7) + _seqs(2, 43, seed=8) + _seqs(1, 71, seed=9)
    with pytest.warns(UserWarning, match="2 sequence.* padded with N and 1 cropped"):
        got = predict(model, seqs)
    np.testing.assert_allclose(got, _forward(model, [pad_or_crop(s, 50) for s in seqs]), atol=1e-5)


def test_any_length_models_keep_order_and_exact_lengths(tiny: TinyGlobal) -> None:
    seqs = _seqs(40, (6, 30), seed=10)  # many lengths, batched by length, returned in input order
    np.testing.assert_allclose(predict(tiny, seqs, batch_size=3), _forward(tiny, seqs), atol=1e-5)
    with pytest.warns(UserWarning, match="1 sequence.* padded"):
        short = predict(tiny, ["ACG"])  # shorter than the receptive field: padded with N to 6
    np.testing.assert_allclose(short, _forward(tiny, ["NACGNN"]), atol=1e-5)


def test_array_inputs(tiny: TinyGlobal) -> None:
    seqs = _seqs(5, 25, seed=11)
    expected = _forward(tiny, seqs)
    x = one_hot(seqs)
    np.testing.assert_allclose(predict(tiny, x), expected, atol=1e-5)
    np.testing.assert_allclose(predict(tiny, torch.from_numpy(x)), expected, atol=1e-5)
    np.testing.assert_allclose(predict(tiny, x[0]), expected[:1], atol=1e-5)
    ambiguous = one_hot(["ACGTRYACGTAAA"])  # fractional codes: served by the dense path
    np.testing.assert_allclose(predict(tiny, ambiguous), _forward(tiny, ["ACGTRYACGTAAA"]), atol=1e-5)
    with pytest.raises(InputError, match="shape"):
        predict(tiny, np.zeros((2, 5, 10)))


def test_fasta_path_gives_a_dataframe_with_task_names(tmp_path) -> None:
    torch.manual_seed(0)
    kwargs = {"n_tasks": 2, "n_filters": 4, "filter_width": 5, "hidden": 0}
    path = save_model(build_model("deepbind", **kwargs), tmp_path / "m.safetensors",
                      ModelMetadata("deepbind", kwargs, tasks=["CTCF", "GATA1"], task_type="regression"))
    model = load_model(path)
    seqs = _seqs(7, (20, 40), seed=12)
    fasta = tmp_path / "x.fa"
    fasta.write_text("".join(f">r{i} some description\n{s[:10]}\n{s[10:]}\n" for i, s in enumerate(seqs)))
    frame = predict(model, fasta)
    assert list(frame.columns) == ["id", "CTCF", "GATA1"]
    assert frame["id"].tolist() == [f"r{i}" for i in range(7)]
    np.testing.assert_allclose(frame[["CTCF", "GATA1"]].to_numpy(), _forward(model, seqs), atol=1e-5)
    with pytest.raises(InputError, match="pathlib.Path"):  # a str is a sequence, never a file name
        predict(model, str(fasta))


def test_window_starts_cover_the_sequence() -> None:
    np.testing.assert_array_equal(window_starts(10, 4, 3), [0, 3, 6])
    np.testing.assert_array_equal(window_starts(11, 4, 3), [0, 3, 6, 7])  # last one ends at 11
    np.testing.assert_array_equal(window_starts(3, 4, 2), [0])
    np.testing.assert_array_equal(window_starts(11, 4, 3, cover_end=False), [0, 3, 6])
    with pytest.raises(ConfigError, match="window and step"):
        window_starts(10, 4, 0)


def test_invalid_bases_name_record_and_position(tiny: TinyGlobal) -> None:
    with pytest.raises(InputError, match=r"^#1:4: invalid character 'X'"):
        predict(tiny, ["ACGXACGTAC"])
    stats = ScoreStats()
    records = [("good", "ACGTACGTAC"), ("bad", "ACG-ACGTAC"), ("empty", ""), ("ok2", "TTTTTTTT")]
    out = list(score_records(Scorer(tiny), records, skip_invalid=True, stats=stats))
    assert [k for chunk, _ in out for k in chunk.keys] == ["good", "ok2"]
    assert stats.skipped == ["bad", "empty"]




def test_score_windows_equal_scores_of_the_substrings(tiny: TinyGlobal) -> None:
    records = [("a", _seqs(1, 23, seed=13)[0]), ("b", _seqs(1, 8, seed=14)[0])]
    out = list(score_windows(Scorer(tiny), records, window=10, step=4, batch_size=3))
    keys = [k for chunk, _ in out for k in chunk.keys]
    scores = np.concatenate([s for _, s in out])
    assert keys == [("a", 0, 10), ("a", 4, 14), ("a", 8, 18), ("a", 12, 22), ("a", 13, 23), ("b", 0, 8)]
    subs = [records[0][1][s:e] for _, s, e in keys[:5]] + [pad_or_crop(records[1][1], 10)]
    np.testing.assert_allclose(scores, _forward(tiny, subs), atol=1e-5)
    best = RecordMax()
    rows = best.add(keys[:2], scores[:2]) + best.add(keys[2:], scores[2:]) + best.finish()
    assert [(r[0], r[1]) for r in rows] == [("a", 5), ("b", 1)]
    np.testing.assert_allclose(rows[0][2], scores[:5].max(0))


def test_background_reraises_and_stops() -> None:
    def failing():
        yield 1
        raise InputError("bad record")

    with pytest.raises(InputError, match="bad record"):
        list(background(failing()))
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stream = background(endless(), maxsize=2)
    assert next(stream) == 0
    stream.close()
    count = len(produced)
    threading.Event().wait(0.3)
    assert len(produced) <= count + 1  # the thread stopped instead of filling memory


def _peak_bytes(model: nn.Module, records) -> int:
    scorer = Scorer(model)
    tracemalloc.start()
    for _chunk, _scores in score_records(scorer, records, batch_size=16):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _reader_peak(path) -> int:
    from seqcnn.seq.fasta import read_fasta

    tracemalloc.start()
    for _record in read_fasta(path):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _records(n: int, offset: int = 0):
    """Generated records, made one at a time (nothing is held)."""
    rng = np.random.default_rng(offset)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    for i in range(n):
        yield f"r{offset + i}", bases[rng.integers(0, 4, size=200)].tobytes().decode()


def test_memory_stays_flat_as_the_input_grows(tiny: TinyGlobal) -> None:
    _peak_bytes(tiny, _records(100))  # warm-up (imports, caches)
    peak_small, peak_large = _peak_bytes(tiny, _records(500)), _peak_bytes(tiny, _records(4000))
    assert peak_large < 1.2 * peak_small + 200_000, (peak_small, peak_large)


def test_memory_stays_flat_for_a_growing_fasta_file(tmp_path, tiny: TinyGlobal, monkeypatch) -> None:
    from seqcnn.seq.fasta import read_fasta

    monkeypatch.setattr("seqcnn.seq.fasta.BLOCK_SIZE", 1 << 16)  # both files span many reader blocks
    small, large = tmp_path / "small.fa", tmp_path / "large.fa"
    for path, n in ((small, 500), (large, 4000)):
        path.write_text("".join(f">{rid}\n{seq}\n" for rid, seq in _records(n)))
    # the peak depends on how far the input thread has run ahead when it is taken: best of two
    peak_small, peak_large = (min(_peak_bytes(tiny, read_fasta(p)) for _ in range(2)) for p in (small, large))
    # read_fasta itself keeps the ids it has seen (duplicate check), ~120 bytes a record: scoring
    # may grow by that much, not more (holding 3,500 records of 200 bp would add over 700 kB)
    reader_small, reader_large = _reader_peak(small), _reader_peak(large)
    assert (peak_large - peak_small) - (reader_large - reader_small) < 400_000, (
        peak_small, peak_large, reader_small, reader_large)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_scores_match_cpu(tiny: TinyGlobal) -> None:
    seqs = _seqs(50, (10, 60), seed=16, letters="ACGTN")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(predict(tiny, seqs, device="cuda"), predict(tiny, seqs, device="cpu"),
                                   atol=1e-5)
    assert Scorer(tiny, device="cuda").table is None  # the table path is for CPUs; cuDNN serves GPUs


def test_window_scan_with_fixed_length_model_whose_receptive_field_exceeds_its_input() -> None:
    """koo_cnn's padded convolutions see 218 bp around a 200 bp input: windows of 200 must work."""
    from pathlib import Path

    from seqcnn.modelfile import load_model

    model = load_model(Path(__file__).resolve().parents[2] / "data" / "example" / "model.safetensors")
    assert model.receptive_field > model.input_length == 200
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), size=500))
    scorer = Scorer(model)
    rows = list(score_windows(scorer, [("r", seq)], window=200, step=150))
    keys = [k for chunk, _ in rows for k in chunk.keys]
    assert [(s, e) for _, s, e in keys] == [(0, 200), (150, 350), (300, 500)]
    expected = predict(model, [seq[0:200], seq[150:350], seq[300:500]])
    np.testing.assert_allclose(np.concatenate([s for _, s in rows]), expected, rtol=1e-5, atol=1e-6)
