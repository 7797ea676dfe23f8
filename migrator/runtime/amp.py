"""torch.autocast and torch.amp.GradScaler in a converted script, which computes in float32.

ms_autocast: inside torch's autocast block some operations (matmul, convolution, linear) run in
float16 or bfloat16. MindSpore sets mixed precision per network, not per block of code
(mindspore.amp.auto_mixed_precision(net, 'O1') or Cell.to_float), so here the block runs in float32,
as torch does with enabled=False or on a device it does not autocast.

MsGradScaler: loss scaling keeps float16 gradients from underflowing. The converted training step
computes float32 gradients, in which scaling the loss by a power of two and unscaling the gradients
again changes nothing, so the scaler is the identity: ms-migrate turns `scaler.scale(loss).backward()`
and `scaler.step(optimizer)` into an ordinary step and unscale_() does nothing. The scale itself
follows torch's schedule (get_scale, update, state_dict with torch's keys), because code reads it:
clipping before unscale_() clips the scaled gradients, so the converted step clips at the limit
divided by get_scale().
"""
import contextlib


class ms_autocast(contextlib.ContextDecorator):
    def __init__(self, device_type=None, dtype=None, enabled=True, cache_enabled=None):
        self.device_type, self.fast_dtype, self.enabled = device_type, dtype, enabled

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class MsGradScaler:
    def __init__(self, device="cuda", init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._enabled = enabled
        self._scale = float(init_scale) if enabled else 1.0
        self._growth_factor, self._backoff_factor = growth_factor, backoff_factor
        self._growth_interval, self._growth_tracker = growth_interval, 0

    def scale(self, outputs):
        return outputs

    def unscale_(self, optimizer):
        return None

    def update(self, new_scale=None):
        # torch's schedule with finite gradients (float32 ones are): grow every growth_interval
        # steps. get_scale() follows it, since code may use it (clipping before unscale_ does).
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale)
            return
        self._growth_tracker += 1
        if self._growth_tracker == self._growth_interval:
            self._scale *= self._growth_factor
            self._growth_tracker = 0

    def step(self, optimizer, *args, **kwargs):
        raise NotImplementedError(
            "scaler.step(optimizer): this training step was not restructured by ms-migrate (see the marker at "
            "its backward()); apply the gradients with optimizer(grads)")

    def get_scale(self):
        return self._scale

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict):
        self._scale = float(state_dict.get("scale", self._scale))
        self._growth_factor = state_dict.get("growth_factor", self._growth_factor)
        self._backoff_factor = state_dict.get("backoff_factor", self._backoff_factor)
        self._growth_interval = state_dict.get("growth_interval", self._growth_interval)
        self._growth_tracker = state_dict.get("_growth_tracker", self._growth_tracker)
