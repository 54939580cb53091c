"""2D model zoo: reference parameter counts, forward/backward shapes, small-input variants, house rules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from torch import nn

from seqcnn.errors import ConfigError, InputError
from seqcnn.models.registry import build_model, get_spec, list_models

MODELS_DIR = Path(__file__).resolve().parents[2] / "seqcnn" / "models"
IMAGE_FILES = [
    "lenet.py",
    "vgg.py",
    "alexnet.py",
    "resnet.py",
    "inception.py",
    "mobilenet.py",
    "unet.py",
    "autoencoder.py",
    "image_base.py",
]
IMAGE_MODELS = [
    "lenet5",
    "alexnet",
    "vgg",
    "resnet",
    "inception",
    "mobilenet",
    "se_resnet",
    "unet",
    "autoencoder",
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one thread is faster than two fighting over a busy CPU (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(name: str, **kwargs: object) -> int:
    with torch.device("meta"):  # no memory, no initialisation arithmetic
        model = build_model(name, **kwargs)
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------ parameter counts (known answers)

# torchvision's counts at ImageNet settings (3 channels, 1000 classes, 224x224)
TORCHVISION = [
    ("resnet", {"depth": 18}, 11_689_512),
    ("resnet", {"depth": 34}, 21_797_672),
    ("resnet", {"depth": 50}, 25_557_032),
    ("resnet", {"depth": 101}, 44_549_160),
    ("resnet", {"depth": 152}, 60_192_808),
    ("vgg", {"config": "A"}, 132_863_336),
    ("vgg", {"config": "B"}, 133_047_848),
    ("vgg", {"config": "D"}, 138_357_544),
    ("vgg", {"config": "E"}, 143_667_240),
    ("vgg", {"config": "A", "batch_norm": True}, 132_868_840),
    ("vgg", {"config": "D", "batch_norm": True}, 138_365_992),
    ("vgg", {"config": "E", "batch_norm": True}, 143_678_248),
    ("alexnet", {}, 61_100_840),
]


@pytest.mark.parametrize(("name", "kwargs", "expected"), TORCHVISION, ids=lambda v: str(v))
def test_imagenet_parameter_counts_match_torchvision(name: str, kwargs: dict, expected: int) -> None:
    assert n_params(name, in_channels=3, num_classes=1000, **kwargs) == expected


def test_more_reference_parameter_counts() -> None:
    # MobileNet v1 (alpha 1): Keras' trainable count (BN gamma/beta; its 1x1-conv classifier = dense)
    assert n_params("mobilenet", num_classes=1000) == 4_231_976
    # SE-ResNet-50 (r = 16): ResNet-50 + per bottleneck SE 2 C^2/16 + C/16 + C, C = 256/512/1024/2048
    se = sum(k * (2 * c * c // 16 + c // 16 + c) for k, c in ((3, 256), (4, 512), (6, 1024), (3, 2048)))
    assert se == 2_530_992
    assert n_params("se_resnet", depth=50, num_classes=1000) == 25_557_032 + se == 28_088_024
    # GoogLeNet with batch norm: torchvision's googlenet has 6,624,904 but (for weight compatibility)
    # uses 3x3 kernels in the "5x5" branches; true 5x5 kernels add 16 * reduce * out per module
    five = [(16, 32), (32, 96), (16, 48), (24, 64), (24, 64), (32, 64), (32, 128), (32, 128), (48, 128)]
    assert n_params("inception", num_classes=1000) == 6_624_904 + sum(16 * r * o for r, o in five)
    # LeNet-5 on 32x32: 156 + 2,416 (conv) + 48,120 + 10,164 + 850 (dense) = 61,706
    assert n_params("lenet5", in_channels=1, num_classes=10, input_size=(32, 32)) == 61_706


def test_unet_parameter_count_by_hand() -> None:
    def double(cin: int, cout: int) -> int:  # two bias-free 3x3 convolutions + two batch norms
        return 9 * cin * cout + 9 * cout * cout + 4 * cout

    widths = [64, 128, 256, 512, 1024]
    encoder = double(3, 64) + sum(double(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
    up = sum(4 * b * a + a for a, b in zip(widths[:-1], widths[1:], strict=True))  # 2x2 transposed, bias
    decoder = sum(double(2 * c, c) for c in widths[:-1])
    expected = encoder + up + decoder + 64 * 2 + 2
    assert expected == 31_037_698
    assert n_params("unet", in_channels=3, num_classes=2, base=64, depth=4) == expected


# ------------------------------------------------------------------ registry and forward/backward


def test_all_2d_families_are_registered() -> None:
    assert set(IMAGE_MODELS) <= set(list_models(dims=2))
    for name in IMAGE_MODELS:
        spec = get_spec(name)
        assert spec.dims == 2 and len(spec.example_input) == 3
        assert {"in_channels"} <= set(spec.parameters)


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_small_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    spec = get_spec(name)
    model = build_model(name, **spec.small)
    x = torch.rand(3, *spec.example_input)
    out = model(x)
    if spec.output == "tasks":
        assert out.shape == (3, spec.small["num_classes"])
    elif spec.output == "pixels":
        assert out.shape == (3, spec.small["num_classes"], *x.shape[2:])
    else:
        assert spec.output == "image" and out.shape == x.shape
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("size", [(8, 8), (32, 32), (12, 20)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("lenet5", {}),
        ("alexnet", {"width": 0.125, "hidden": 16}),
        ("vgg", {"config": "A", "width": 0.0625, "hidden": 16, "batch_norm": True}),
        ("resnet", {"depth": 18, "width": 0.0625}),
        ("se_resnet", {"depth": 50, "width": 0.0625, "stages": (1, 1, 1, 1), "reduction": 4}),
        ("inception", {"width": 0.0625}),
        ("mobilenet", {"width_multiplier": 0.0625}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_small_input_variants(name: str, kwargs: dict, size: tuple[int, int]) -> None:
    model = build_model(name, in_channels=3, num_classes=7, input_size=size, small_input=True, **kwargs)
    model.eval()
    out = model(torch.rand(2, 3, *size))
    assert out.shape == (2, 7) and torch.isfinite(out).all()


def test_imagenet_feature_map_sizes() -> None:
    x = torch.empty(1, 3, 224, 224, device="meta")
    expected = {
        "resnet": (512, 7, 7),
        "vgg": (512, 7, 7),
        "alexnet": (256, 6, 6),
        "mobilenet": (1024, 7, 7),
        "inception": (1024, 7, 7),
    }
    with torch.device("meta"):
        for name, shape in expected.items():
            model = build_model(name).eval()
            assert tuple(model.features(x).shape[1:]) == shape, name
            assert tuple(model(x).shape) == (1, 1000), name


def test_inception_module_widths_follow_the_paper() -> None:
    with torch.device("meta"):
        model = build_model("inception")
    widths = [m.out_channels for m in model.features if hasattr(m, "out_channels")]
    assert widths == [256, 480, 512, 512, 512, 528, 832, 832, 1024]  # Table 1, modules 3a..5b


@pytest.mark.parametrize("size", [(16, 16), (15, 17), (9, 30)])
def test_unet_and_autoencoder_keep_height_and_width(size: tuple[int, int]) -> None:
    unet = build_model("unet", in_channels=2, num_classes=5, base=4, depth=3)
    x = torch.rand(2, 2, *size)
    assert unet(x).shape == (2, 5, *size)
    ae = build_model("autoencoder", in_channels=2, widths=(4, 8, 8))
    out = ae(x)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1  # sigmoid output


def test_unet_is_per_pixel_local_at_depth_one() -> None:
    # depth 1: 2 convs, pool, 2 convs, up, 2 convs -> a pixel far from a change keeps its output
    # (radius about 2 + 1 + 4 + 1 + 2 = 10 pixels)
    torch.manual_seed(0)
    model = build_model("unet", in_channels=1, num_classes=2, base=8, depth=1, batch_norm=False).eval()
    x = torch.rand(1, 1, 32, 32)
    y = x.clone()
    y[..., :2, :2] += 1.0
    with torch.no_grad():
        diff = (model(x) - model(y)).abs().sum(1)[0]
    assert diff[:4, :4].sum() > 0 and diff[16:, :].max() == 0 and diff[:, 16:].max() == 0


def test_autoencoder_dense_bottleneck() -> None:
    model = build_model("autoencoder", in_channels=1, widths=(4, 8), latent_dim=6, input_size=(8, 8))
    x = torch.rand(5, 1, 8, 8)
    assert model.encode(x).shape == (5, 6) and model(x).shape == x.shape
    with pytest.raises(ConfigError, match="input_size"):
        build_model("autoencoder", latent_dim=6)


def test_size_errors() -> None:
    model = build_model("lenet5", input_size=(8, 8), small_input=True)
    with pytest.raises(InputError, match="size"):
        model(torch.rand(1, 1, 16, 16))  # the dense head was sized for 8x8
    with pytest.raises(ConfigError, match="too small"):
        build_model("lenet5", input_size=(8, 8))  # two valid 5x5 convolutions need more than 8x8
    with pytest.raises(ConfigError, match="too small"):
        build_model("vgg", input_size=(16, 16), width=0.0625)  # five 2x2 pools: 16 -> 0
    with pytest.raises(ConfigError, match="VGG config"):
        build_model("vgg", config="Z")
    with pytest.raises(ConfigError, match="depth"):
        build_model("resnet", depth=20)


def test_vgg_custom_layer_list() -> None:
    model = build_model("vgg", layers=[8, "M", 16, "M"], input_size=(12, 12), num_classes=3, hidden=10)
    convs = [m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    assert [c.out_channels for c in convs] == [8, 16]
    assert model.head[1].in_features == 16 * 3 * 3  # inferred: 12 -> 6 -> 3
    assert model(torch.rand(2, 3, 12, 12)).shape == (2, 3)


def test_lenet_learns_digits() -> None:
    from seqcnn.data.images import load_digits

    torch.manual_seed(0)
    train, _, test, info = load_digits(seed=0)
    model = build_model(
        "lenet5",
        in_channels=1,
        num_classes=info.n_classes,
        input_size=info.input_size,
        small_input=True,
        activation="relu",
        pool="max",
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(6):
        for idx in torch.randperm(len(train)).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(train.images[idx]), train.targets[idx]).backward()
            opt.step()
    with torch.no_grad():
        accuracy = (model.eval()(test.images).argmax(1) == test.targets).float().mean()
    assert accuracy > 0.9  # chance is 0.1; the full training run (TRAIN's benchmark) aims at 0.98


def test_unet_learns_synthetic_segmentation() -> None:
    from seqcnn.data.shapes import synthetic_segmentation

    torch.manual_seed(0)
    train, _, test, info = synthetic_segmentation(n=160, size=16, seed=0)
    model = build_model("unet", in_channels=1, num_classes=info.n_classes, base=8, depth=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        for idx in torch.randperm(len(train)).split(16):
            opt.zero_grad()
            nn.functional.cross_entropy(model(train.images[idx]), train.targets[idx]).backward()
            opt.step()
    with torch.no_grad():
        pred = model.eval()(test.images).argmax(1)
    shapes = test.targets > 0
    background = 1 - shapes.float().mean()  # accuracy of calling every pixel background
    assert (pred == test.targets).float().mean() > background + 0.05
    # which shape a pixel belongs to needs the outline (brightness is shared): chance is 1/3
    assert (pred[shapes] == test.targets[shapes]).float().mean() > 0.5


# ------------------------------------------------------------------ house rules


def _calls(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                names.add(func.attr)
            elif isinstance(func, ast.Name):
                names.add(func.id)
    return names


@pytest.mark.parametrize("filename", IMAGE_FILES)
def test_model_files_build_from_layers_only(filename: str) -> None:
    calls = _calls(MODELS_DIR / filename)
    banned = {
        "Conv1d",
        "Conv2d",
        "Conv3d",
        "ConvTranspose1d",
        "ConvTranspose2d",
        "BatchNorm1d",
        "BatchNorm2d",
        "LayerNorm",
        "ReLU",
        "MaxPool2d",
        "AvgPool2d",
        "conv2d",
        "batch_norm",
    }
    assert not calls & banned, f"{filename} builds layers itself: {calls & banned}"
    assert not calls & {"print", "open", "save", "load", "backward", "step"}, filename  # pure nn.Modules
