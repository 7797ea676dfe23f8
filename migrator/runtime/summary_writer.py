"""torch.utils.tensorboard.SummaryWriter: scalars written as TensorBoard event files.

MindSpore's own summaries (mindspore.SummaryRecord) are for MindInsight. This writer keeps the
script's TensorBoard logs: add_scalar / add_scalars write the same event files torch's writer
does (TFRecord framing with masked CRC-32C, Event and Summary protocol buffers encoded here, so
nothing needs to be installed), in the same folders (runs/<date>_<host><comment> by default;
add_scalars in <log_dir>/<main_tag>_<tag>). Images, histograms, graphs, text, embeddings and
hyperparameters are not written: each such method warns once and returns.
"""
import os
import socket
import struct
import time
import warnings


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def _masked_crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n):
    n &= (1 << 64) - 1  # int64 on the wire (a negative step as two's complement)
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, payload):  # a length-delimited field
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time, step=None, file_version=None, tag=None, value=None):
    out = b"\x09" + struct.pack("<d", wall_time)  # Event.wall_time (double)
    if step is not None:
        out += b"\x10" + _varint(int(step))  # Event.step (int64)
    if file_version is not None:
        out += _field(3, file_version.encode())
    if tag is not None:  # Event.summary { value { tag, simple_value } }
        summary_value = _field(1, tag.encode()) + b"\x15" + struct.pack("<f", value)
        out += _field(5, _field(1, summary_value))
    return out


def _record(data):
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", _masked_crc32c(header)) + data + struct.pack("<I", _masked_crc32c(data))


def _number(value):
    if hasattr(value, "asnumpy"):  # a MindSpore tensor
        value = value.asnumpy()
    if hasattr(value, "item"):  # numpy
        value = value.item()
    return float(value)


class _EventFile:
    def __init__(self, folder, filename_suffix=""):
        os.makedirs(folder, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.0{filename_suffix}"
        self.path = os.path.join(folder, name)
        self._fh = open(self.path, "wb")
        self._fh.write(_record(_event(time.time(), file_version="brain.Event:2")))
        self._fh.flush()

    def scalar(self, tag, value, step, walltime):
        self._fh.write(_record(_event(walltime if walltime is not None else time.time(), step, tag=tag,
                                      value=_number(value))))

    def flush(self):
        if not self._fh.closed:
            self._fh.flush()

    def close(self):
        if not self._fh.closed:
            self._fh.close()


class MsSummaryWriter:
    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        if not log_dir:
            stamp = time.strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir, self._suffix = log_dir, filename_suffix
        self._file = _EventFile(log_dir, filename_suffix)
        self._scalars_files = {}
        self._warned = set()

    def get_logdir(self):
        return self.log_dir

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False, double_precision=False):
        self._file.scalar(tag, scalar_value, global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        for tag, value in tag_scalar_dict.items():
            folder = os.path.join(self.log_dir, main_tag.replace("/", "_") + "_" + tag)
            if folder not in self._scalars_files:
                self._scalars_files[folder] = _EventFile(folder, self._suffix)
            self._scalars_files[folder].scalar(main_tag, value, global_step, walltime)

    def _not_written(self, what, *args, **kwargs):
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(f"SummaryWriter.{what}: not written by the converted script (only scalars are)")

    def __getattr__(self, name):
        if name.startswith("add_"):
            return lambda *args, **kwargs: self._not_written(name)
        raise AttributeError(name)

    def flush(self):
        self._file.flush()
        for f in self._scalars_files.values():
            f.flush()

    def close(self):
        self._file.close()
        for f in self._scalars_files.values():
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
