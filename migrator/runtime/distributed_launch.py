"""torch.multiprocessing.spawn and backend names, for MindSpore's launcher.

MindSpore starts one process per device with its launcher, msrun
(`msrun --worker_num=N --local_worker_num=N script.py`), instead of the script spawning
them: under msrun, ms_spawn(fn, args, nprocs) calls fn(local_rank, *args) once in this
process (msrun's DEVICE_ID is the local rank). Outside msrun it runs fn(0, *args) in this
process when nprocs is 1, and refuses more than one process, saying how to launch.
"""
import os


def ms_spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    if "MS_WORKER_NUM" in os.environ:
        rank = int(os.environ.get("DEVICE_ID", os.environ.get("RANK_ID", "0")))
    elif nprocs == 1:
        rank = 0
    else:
        raise RuntimeError(f"torch.multiprocessing.spawn(nprocs={nprocs}) starts {nprocs} processes; with MindSpore, "
                           f"launch this script with `msrun --worker_num={nprocs} --local_worker_num={nprocs} "
                           "<script> <args>`: each worker then calls the function once with its rank")
    fn(rank, *args)


def ms_default_backend_for_device(device):
    """MindSpore's communication backend for a device: nccl (GPU), hccl (Ascend), mccl (CPU)."""
    kind = str(device).partition(":")[0].lower()
    names = {"cuda": "nccl", "gpu": "nccl", "npu": "hccl", "ascend": "hccl", "cpu": "mccl"}
    if kind not in names:
        raise ValueError(f"no MindSpore communication backend for device {device!r}")
    return names[kind]
