"""Runtime helpers whose torch side cannot run here (torchvision does not import beside torch
2.13; torch's ONNX exporter needs onnxscript): converted torch programs run in MindSpore and are
checked against torchvision's documented behaviour, computed by hand."""
import importlib.util
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from equivalence import convert, imports_torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _module(tmp_path, source: str, name: str = "converted"):
    conv = convert(source, f"{name}.py")
    assert not [f for f in conv.findings if f.kind == "untranslated"], conv.findings
    assert not imports_torch(conv.ms_code)
    path = tmp_path / f"{name}.py"
    path.write_text(conv.ms_code)  # MindSpore compiles graphs from source files
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # MindSpore's graph compiler looks the module up
    spec.loader.exec_module(mod)
    return mod


GRID = """
import torch
import torchvision.utils as vutils
from torchvision.utils import save_image


def grid(x, **kw):
    return vutils.make_grid(x, **kw)


def save(x, path, **kw):
    save_image(x, path, **kw)
"""


@pytest.fixture(scope="module")
def grid_mod(tmp_path_factory):
    return _module(tmp_path_factory.mktemp("grid"), GRID, "grid_mod")


def _images(n, c=1, h=2, w=3):
    return np.arange(n * c * h * w, dtype=np.float32).reshape(n, c, h, w) / (n * c * h * w)


def test_make_grid_layout(grid_mod):
    import mindspore

    imgs = _images(5)
    out = grid_mod.grid(mindspore.Tensor(imgs), nrow=2, padding=1, pad_value=0.5).asnumpy()
    # 5 images in rows of 2: 3 rows; cell = image + padding; one more padding at the end
    assert out.shape == (3, 3 * (2 + 1) + 1, 2 * (3 + 1) + 1)
    for k in range(5):
        y, x = divmod(k, 2)
        cell = out[:, y * 3 + 1:y * 3 + 3, x * 4 + 1:x * 4 + 4]
        np.testing.assert_array_equal(cell, np.repeat(imgs[k], 3, 0))  # gray -> 3 channels
    assert np.all(out[:, 0, :] == 0.5) and np.all(out[:, :, 0] == 0.5)
    assert np.all(out[:, 7:9, 5:8] == 0.5)  # the sixth cell is empty


def test_make_grid_default_nrow_and_shapes(grid_mod):
    import mindspore

    imgs = np.random.default_rng(0).random((10, 3, 4, 4)).astype(np.float32)
    out = grid_mod.grid(mindspore.Tensor(imgs)).asnumpy()
    assert out.shape == (3, 2 * 6 + 2, 8 * 6 + 2)  # nrow=8, padding=2
    np.testing.assert_array_equal(out[:, 8:12, 2:6], imgs[8])
    single = grid_mod.grid(mindspore.Tensor(imgs[0])).asnumpy()
    np.testing.assert_array_equal(single, imgs[0])  # one image comes back as it is
    two_d = grid_mod.grid(mindspore.Tensor(imgs[0, 0])).asnumpy()
    np.testing.assert_array_equal(two_d, np.stack([imgs[0, 0]] * 3))
    listed = grid_mod.grid([mindspore.Tensor(i) for i in imgs[:2]], padding=0).asnumpy()
    np.testing.assert_array_equal(listed, np.concatenate([imgs[0], imgs[1]], 2))


def test_make_grid_normalize(grid_mod):
    import mindspore

    imgs = np.stack([np.full((1, 2, 2), 2.0, np.float32), np.array([[[-1.0, 0.0], [1.0, 3.0]]], np.float32)])
    whole = grid_mod.grid(mindspore.Tensor(imgs), normalize=True, padding=0).asnumpy()
    np.testing.assert_allclose(whole[0], np.concatenate([(imgs[0, 0] + 1) / 4, (imgs[1, 0] + 1) / 4], 1))
    ranged = grid_mod.grid(mindspore.Tensor(imgs), normalize=True, value_range=(0, 2), padding=0).asnumpy()
    np.testing.assert_allclose(ranged[0], np.concatenate([np.ones((2, 2)), np.clip(imgs[1, 0], 0, 2) / 2], 1))
    each = grid_mod.grid(mindspore.Tensor(imgs), normalize=True, scale_each=True, padding=0).asnumpy()
    np.testing.assert_allclose(each[0, :, 2:], (imgs[1, 0] + 1) / 4)
    np.testing.assert_allclose(each[0, :, :2], np.zeros((2, 2)))  # constant image: (x - x) / 1e-5
    assert float(mindspore.Tensor(imgs).asnumpy().min()) == -1.0  # the input is not modified


def test_save_image_rounds_and_writes(grid_mod, tmp_path):
    import mindspore

    imgs = _images(3, c=3)
    imgs[0, 0, 0, 0] = 0.5
    imgs[1, 0, 0, 0] = 1.7  # clamped
    path = tmp_path / "grid.png"
    grid_mod.save(mindspore.Tensor(imgs), str(path), nrow=3, padding=1)
    got = np.asarray(Image.open(path))
    grid = grid_mod.grid(mindspore.Tensor(imgs), nrow=3, padding=1).asnumpy()
    expected = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(got, expected)
    assert got[1, 1, 0] == 128 and got[1, 1 + 4, 0] == 255
    buf = io.BytesIO()
    grid_mod.save(mindspore.Tensor(imgs[0]), buf, format="png")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue()))),
                                  np.clip(imgs[0] * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0))


FAKE = """
import torch
import torchvision
import torchvision.transforms as transforms


def loader(offset=0):
    ds = torchvision.datasets.FakeData(size=5, image_size=(3, 8, 6), num_classes=4,
                                       transform=transforms.ToTensor(), random_offset=offset)
    return torch.utils.data.DataLoader(ds, batch_size=2)
"""


def test_fake_data(tmp_path):
    mod = _module(tmp_path, FAKE, "fake_mod")
    loader = mod.loader()
    batches = [(x.asnumpy(), y.asnumpy()) for x, y in loader]
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(2, 3, 8, 6), (2, 3, 8, 6), (1, 3, 8, 6)]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1 and images.std() > 0.1
    assert labels.dtype == np.int64 and set(labels) <= {0, 1, 2, 3}
    again = np.concatenate([x.asnumpy() for x, _ in mod.loader()])
    np.testing.assert_array_equal(images, again)  # each index draws the same sample, as torchvision's
    shifted = np.concatenate([x.asnumpy() for x, _ in mod.loader(offset=1)])
    np.testing.assert_array_equal(shifted[:4], images[1:])


MNIST_ATTRS = """
import torch
from torchvision import datasets, transforms


def load(root, train):
    ds = datasets.MNIST(root, train=train, transform=transforms.ToTensor())
    data = ds.data.unsqueeze(1).clone()        # siamese_network's use
    targets = np.array(ds.targets.clone())
    return ds, data, targets

import numpy as np
"""


def test_mnist_exposes_data_targets_and_classes(tmp_path):
    """torchvision's MNIST has `.data` (N x 28 x 28 uint8), `.targets` (int64) and `.classes`:
    the converted dataset has them too, read from the same IDX files, beside the pipeline."""
    import struct

    from mnist_files import write_mnist

    raw = write_mnist(tmp_path, n_train=20, n_test=10)
    mod = _module(tmp_path, MNIST_ATTRS, "mnist_attrs_mod")
    for train, prefix, n in ((True, "train", 20), (False, "t10k", 10)):
        ds, data, targets = mod.load(str(tmp_path), train)
        with open(f"{raw}/{prefix}-images-idx3-ubyte", "rb") as f:
            images = np.frombuffer(f.read()[16:], np.uint8).reshape(n, 28, 28)
        with open(f"{raw}/{prefix}-labels-idx1-ubyte", "rb") as f:
            assert struct.unpack(">II", f.read(8)) == (2049, n)
            labels = np.frombuffer(f.read(), np.uint8).astype(np.int64)
        assert data.shape == (n, 1, 28, 28) and str(data.dtype) == "UInt8"
        np.testing.assert_array_equal(data.asnumpy()[:, 0], images)
        np.testing.assert_array_equal(targets, labels)
        assert ds.classes[3] == "3 - three" and ds.class_to_idx["9 - nine"] == 9
        first = next(iter(ds.create_tuple_iterator(output_numpy=True)))
        assert int(first[1]) == labels[0]  # the pipeline itself unchanged


SHUFFLED = """
import torch
from torchvision import datasets, transforms


def loaders(root):
    torch.manual_seed(0)  # with a seed set, MindSpore's own shuffling repeated one order every epoch
    ds = datasets.MNIST(root, train=True, transform=transforms.ToTensor())
    return (torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True),
            torch.utils.data.DataLoader(ds, batch_size=16, shuffle=False))


def tensor_epochs():
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(20)), batch_size=6, shuffle=True)
    return [[int(v) for (b,) in loader for v in b] for _ in range(3)]


def big_loader():
    ds = datasets.FakeData(200000, (3, 32, 32), 10, transforms.ToTensor())
    return torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True)
"""


def test_shuffled_loader_permutes_indices_per_epoch_and_leaves_other_loaders_alone(tmp_path):
    """shuffle=True: a new permutation each epoch through the source's sampler (no shuffle
    buffer holding the dataset: the first batch of 200,000 samples comes at once); a second,
    unshuffled loader over the same dataset keeps the file order."""
    import time

    from mnist_files import write_mnist

    write_mnist(tmp_path, n_train=64, n_test=8)
    mod = _module(tmp_path, SHUFFLED, "shuffled_mod")
    shuffled, ordered = mod.loaders(str(tmp_path))
    targets = mod.loaders(str(tmp_path))[0].dataset.targets.asnumpy()
    epochs = [np.concatenate([y.asnumpy() for _, y in shuffled]) for _ in range(2)]
    in_order = np.concatenate([y.asnumpy() for _, y in ordered])
    np.testing.assert_array_equal(in_order, targets)
    for labels in epochs:
        assert sorted(labels.tolist()) == sorted(targets.tolist()) and not np.array_equal(labels, targets)
    assert not np.array_equal(epochs[0], epochs[1])
    epochs = mod.tensor_epochs()  # a Dataset of the program's own: the same, through GeneratorDataset
    assert all(sorted(e) == list(range(20)) for e in epochs) and len({tuple(e) for e in epochs}) == 3
    assert mod.tensor_epochs() == epochs  # the seed makes the order reproducible, as in torch
    start = time.perf_counter()
    x, y = next(iter(mod.big_loader()))
    assert x.shape == (8, 3, 32, 32) and time.perf_counter() - start < 30


ONNX = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.rnn = nn.LSTM(4, 5, 2)
        self.fc = nn.Linear(5, 3)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.emb(x), hidden)
        return self.fc(out), hidden


def export(path):
    model = Net()
    model.eval()
    x = torch.LongTensor([[1, 2], [3, 4], [5, 6]])
    hidden = (torch.zeros(2, 2, 5), torch.zeros(2, 2, 5))
    torch.onnx.export(model, (x, hidden), path)
    return model
"""


def test_onnx_export_writes_the_named_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MindSpore writes compile artifacts (rank_0/) to the working folder
    mod = _module(tmp_path, ONNX, "onnx_mod")
    path = tmp_path / "model.pt"  # written under exactly this name, not model.pt.onnx
    model = mod.export(str(path))
    assert path.is_file() and path.stat().st_size > 1000
    assert not model.training
    try:
        import onnxruntime
    except ImportError:
        return
    import mindspore

    sess = onnxruntime.InferenceSession(str(path))
    assert len(sess.get_inputs()) == 3  # the (h, c) state is two inputs, as in torch's export
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, (3, 2)).astype(np.int64)
    h, c = (rng.standard_normal((2, 2, 5)).astype(np.float32) for _ in range(2))
    outs = sess.run(None, dict(zip([i.name for i in sess.get_inputs()], [x, h, c])))
    ref = model(mindspore.Tensor(x), (mindspore.Tensor(h), mindspore.Tensor(c)))
    np.testing.assert_allclose(outs[0], ref[0].asnumpy(), rtol=1e-5, atol=1e-6)


TENSORBOARD_PROGRAM = '''
import torch
from torch.utils.tensorboard import SummaryWriter


def log(folder):
    writer = SummaryWriter(log_dir=folder)
    for step in range(3):
        loss = torch.tensor(1.0) / (step + 1)
        writer.add_scalar("loss/train", loss, step)
        writer.add_scalar("lr", 0.1 * step, global_step=step)
    writer.add_scalars("acc", {"train": 0.5, "val": 0.25}, 7)
    writer.add_histogram("weights", torch.zeros(3), 0)  # not written: warns
    writer.close()
'''


def _crc32c_bitwise(data: bytes) -> int:  # written independently of the helper's table version
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _read_events(path):
    """TFRecord framing (CRCs checked) and the Event fields a scalar uses."""
    import struct

    data, events, i = open(path, "rb").read(), [], 0
    mask = lambda c: (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF  # noqa: E731
    while i < len(data):
        header = data[i:i + 8]
        (n,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[i + 8:i + 12])[0] == mask(_crc32c_bitwise(header))
        body = data[i + 12:i + 12 + n]
        assert struct.unpack("<I", data[i + 12 + n:i + 16 + n])[0] == mask(_crc32c_bitwise(body))
        i += 16 + n
        events.append(body)
    out = []
    for body in events:
        step = tag = value = version = None
        j = 9  # wall_time: key 0x09 + double
        assert body[0] == 0x09
        while j < len(body):
            key = body[j]
            j += 1
            if key == 0x10:  # step, a varint
                step, shift = 0, 0
                while True:
                    b = body[j]
                    j += 1
                    step |= (b & 0x7F) << shift
                    shift += 7
                    if not b & 0x80:
                        break
            elif key in (0x1A, 0x2A):
                n = body[j]
                payload = body[j + 1:j + 1 + n]
                j += 1 + n
                if key == 0x1A:
                    version = payload.decode()
                else:  # Summary { value (0x0a) { tag (0x0a), simple_value (0x15 float) } }
                    v = payload[2:]
                    tag = v[2:2 + v[1]].decode()
                    value = struct.unpack("<f", v[3 + v[1]:7 + v[1]])[0]
            else:
                raise AssertionError(f"unexpected field key {key:#x}")
        out.append((version, step, tag, value))
    return out


def test_summary_writer_writes_tensorboard_scalars(tmp_path):
    import glob
    import runpy
    import warnings

    (tmp_path / "tb.py").write_text(TENSORBOARD_PROGRAM)
    r = subprocess.run([sys.executable, "-m", "migrator", str(tmp_path / "tb.py"), "-o", str(tmp_path / "tb_ms.py"),
                        "-q"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    ns = runpy.run_path(str(tmp_path / "tb_ms.py"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ns["log"](str(tmp_path / "runs"))
    assert any("add_histogram" in str(w.message) for w in caught)
    main = _read_events(glob.glob(str(tmp_path / "runs" / "events.out.tfevents.*"))[0])
    assert main[0][0] == "brain.Event:2"
    assert [(s, t, round(v, 6)) for _, s, t, v in main[1:]] == [
        (0, "loss/train", 1.0), (0, "lr", 0.0), (1, "loss/train", 0.5), (1, "lr", 0.1),
        (2, "loss/train", 0.333333), (2, "lr", 0.2)]
    for sub, value in (("acc_train", 0.5), ("acc_val", 0.25)):
        events = _read_events(glob.glob(str(tmp_path / "runs" / sub / "events.out.tfevents.*"))[0])
        assert events[1][1:] == (7, "acc", value)


EAGER_TRANSFORMS = """
import torch
from torchvision import transforms

transform = transforms.Compose([transforms.CenterCrop(6), transforms.ToTensor(),
                                transforms.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))])
crop_only = transforms.Compose([transforms.CenterCrop(4)])


def preprocess(image):
    return transform(image).unsqueeze(0)


def crop(image):
    return crop_only(image)


class Pictures(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return transform(self.images[i])


def batches(images):
    return [b for b in torch.utils.data.DataLoader(Pictures(images), batch_size=2)]
"""


def test_a_compose_called_on_one_image_returns_what_torchvision_does(tmp_path):
    """torchvision: the image after the transforms, a tensor after ToTensor (so
    `transform(img).unsqueeze(0)` works); MindSpore's Compose returned a tuple of one array."""
    mod = _module(tmp_path, EAGER_TRANSFORMS, "eager_transforms")
    pixels = (np.arange(8 * 8 * 3).reshape(8, 8, 3) * 2 % 256).astype(np.uint8)
    image = Image.fromarray(pixels)
    expected = ((pixels[1:7, 1:7].astype(np.float32) / 255 - 0.5) / 0.25).transpose(2, 0, 1)[None]
    out = mod.preprocess(image)
    assert tuple(out.shape) == (1, 3, 6, 6)
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-5, atol=1e-5)
    cropped = mod.crop(image)  # no ToTensor: an image, as torchvision's (not a tensor)
    assert np.asarray(cropped).shape == (4, 4, 3)
    loaded = mod.batches([image, image, image])  # a Dataset whose __getitem__ calls the transform
    assert [tuple(b.shape) for b in loaded] == [(2, 3, 6, 6), (1, 3, 6, 6)]
    np.testing.assert_allclose(loaded[0].asnumpy()[1], expected[0], rtol=1e-5, atol=1e-5)
