"""Call forms of real programs that torch accepts and MindSpore spells differently (issue 17):
`out=` arguments, an LSTM state given as a list, torchvision's Pad and read_image. Each program is
converted with the CLI and RUN in MindSpore, compared with torch."""
import os

import numpy as np

from equivalence import convert_program, to_numpy


def _close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=rtol, atol=atol)


OUT_ARGS = '''
import torch

x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
y = torch.ones(2, 3) * 0.5
r = torch.empty(2, 3)
alias = r
returned = torch.add(x, y, out=r)
same = returned is r
c = torch.zeros(3, 3)
torch.matmul(x.t(), y, out=c)
m = torch.zeros(2, 3)
torch.mul(x, 2, out=m)
small = torch.zeros(1)
torch.cat([x, y], dim=0, out=small)  # torch resizes the tensor given
ints = torch.zeros(2, 3, dtype=torch.int64)
torch.floor(x * 1.5, out=ints.float())  # a temporary: nothing to see afterwards
s = torch.zeros(3)
torch.sum(x, 0, out=s)
'''


def test_out_arguments_write_into_the_tensor_given(tmp_path):
    t, m = convert_program(tmp_path, OUT_ARGS)
    for name in ("r", "alias", "c", "m", "small", "s"):
        _close(t[name], m[name])
    assert tuple(to_numpy(m["small"]).shape) == (4, 3)
    assert m["same"] is True and t["same"] is True


LSTM_STATE = '''
import torch
import torch.nn as nn

torch.manual_seed(0)


def detach(states):
    return [state.detach() for state in states]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)

    def forward(self, x, h):
        out, (h, c) = self.lstm(x, h)
        out2, _ = self.lstm(x, [h, c])
        return out + out2, (h, c)


net = Net()
x = torch.randn(2, 5, 3)
states = (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))
states = detach(states)
out, states = net(x, states)
out_none, _ = net.lstm(x, None)
weights = {k: v.detach().numpy() for k, v in net.state_dict().items()}
'''


def test_lstm_state_given_as_a_list(tmp_path):
    import mindspore

    t, m = convert_program(tmp_path, LSTM_STATE)
    net = m["net"]  # the torch weights in the MindSpore model, then the same computation
    params = dict(net.parameters_and_names())
    for k, v in t["weights"].items():
        params[k].set_data(mindspore.Tensor(v))
    x = mindspore.Tensor(t["x"].numpy())
    states = m["detach"]((mindspore.ops.zeros((1, 2, 4)), mindspore.ops.zeros((1, 2, 4))))
    out, (h, c) = net(x, states)
    _close(t["out"].detach(), out, atol=1e-5)
    _close(t["states"][0].detach(), h, atol=1e-5)


def _convert_and_run(tmp_path, source: str, name: str = "prog") -> dict:
    """Convert with the CLI and run the MindSpore program (torchvision does not import beside the
    torch of this suite: the expected values are torchvision's documented ones, computed here)."""
    import runpy
    import subprocess
    import sys

    from equivalence import imports_torch

    src, out = tmp_path / f"{name}.py", tmp_path / f"{name}_ms.py"
    src.write_text(source)
    r = subprocess.run([sys.executable, "-m", "migrator", str(src), "-o", str(out), "-q"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    text = out.read_text()
    assert not imports_torch(text) and "ms-migrate: untranslated" not in text, text
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        return runpy.run_path(str(out), run_name=f"{name}_ms")
    finally:
        os.chdir(old)


PAD = '''
import os

import numpy as np
from PIL import Image
import torchvision.transforms as transforms

img = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4) * 20)
constant = transforms.Pad(2)(img)
pairs = transforms.Pad((1, 2), fill=7)(img)
four = transforms.Pad((1, 2, 3, 4))(img)
reflect = transforms.Pad(1, padding_mode="reflect")(img)
symmetric = transforms.Pad([2, 1], padding_mode="symmetric")(img)
edge = transforms.Compose([transforms.Pad(1, padding_mode="edge"), transforms.ToTensor()])(img)
'''


def test_transforms_pad_as_torchvision_pads(tmp_path):
    m = _convert_and_run(tmp_path, PAD)
    a = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    np.testing.assert_array_equal(np.asarray(m["constant"]), np.pad(a, 2))
    np.testing.assert_array_equal(np.asarray(m["pairs"]), np.pad(a, ((2, 2), (1, 1)), constant_values=7))
    np.testing.assert_array_equal(np.asarray(m["four"]), np.pad(a, ((2, 4), (1, 3))))
    np.testing.assert_array_equal(np.asarray(m["reflect"]), np.pad(a, 1, mode="reflect"))
    np.testing.assert_array_equal(np.asarray(m["symmetric"]), np.pad(a, ((1, 1), (2, 2)), mode="symmetric"))
    np.testing.assert_allclose(to_numpy(m["edge"])[0], np.pad(a, 1, mode="edge") / 255.0, atol=1e-6)


READ_IMAGE = '''
import os

import numpy as np
from PIL import Image
from torchvision.io import read_image, ImageReadMode

Image.fromarray((np.arange(24).reshape(2, 4, 3) * 10).astype(np.uint8)).save("rgb.png")
Image.fromarray((np.arange(8).reshape(2, 4) * 30).astype(np.uint8)).save("gray.png")
rgb = read_image("rgb.png")
gray = read_image("gray.png")
gray_as_rgb = read_image("gray.png", ImageReadMode.RGB)
rgba = read_image("rgb.png", mode=ImageReadMode.RGB_ALPHA)
scaled = rgb.float() / 255
'''


def test_read_image_gives_channels_first_uint8(tmp_path):
    m = _convert_and_run(tmp_path, READ_IMAGE)
    rgb = (np.arange(24).reshape(2, 4, 3) * 10).astype(np.uint8).transpose(2, 0, 1)
    gray = (np.arange(8).reshape(1, 2, 4) * 30).astype(np.uint8)
    np.testing.assert_array_equal(to_numpy(m["rgb"]), rgb)
    assert to_numpy(m["rgb"]).dtype == np.uint8
    np.testing.assert_array_equal(to_numpy(m["gray"]), gray)
    np.testing.assert_array_equal(to_numpy(m["gray_as_rgb"]), np.repeat(gray, 3, axis=0))
    np.testing.assert_array_equal(to_numpy(m["rgba"])[3], np.full((2, 4), 255, np.uint8))
    np.testing.assert_allclose(to_numpy(m["scaled"]), rgb / 255.0, atol=1e-6)


UNBOUND_METHODS = '''
import torch

x = torch.arange(6.0).reshape(2, 3)
a = torch.Tensor.numpy(x)
b = torch.Tensor.add(x, x, alpha=2)
c = torch.Tensor.sum(x, dim=1)
d = torch.Tensor.t(x)
'''


def test_tensor_methods_called_through_the_class(tmp_path):
    t, m = convert_program(tmp_path, UNBOUND_METHODS)
    for name in "abcd":
        _close(t[name], m[name])
