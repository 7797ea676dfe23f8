"""torch.optim.LBFGS for MindSpore: a closure-driven L-BFGS with torch's iteration rules.

Copied into converted files that build `torch.optim.LBFGS`. The converted closure fills the
gradient buffer (runtime/grad_buffer.py) and returns the loss; `ms_grad_buffer.step(opt, closure)`
hands both to `step_closure`, which re-evaluates the closure as torch's `step(closure)` does: the
two-loop recursion over the last `history_size` curvature pairs, a first step of
min(1, 1/|g|_1) * lr, then lr, and torch's stopping tests (max_iter, max_eval, tolerance_grad,
tolerance_change). The update is computed in the parameters' own dtype.
"""
import mindspore


class TorchLBFGS(mindspore.experimental.optim.Optimizer):
    """torch.optim.LBFGS's arguments and state; one parameter group, as in torch."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-07,
                 tolerance_change=1e-09, history_size=100, line_search_fn=None):
        if line_search_fn is not None:
            raise NotImplementedError(f"LBFGS(line_search_fn={line_search_fn!r}): only the fixed step "
                                      "(line_search_fn=None) is translated")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._hyper = dict(lr=float(lr), max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                           tolerance_change=tolerance_change, history_size=history_size)
        self._lbfgs = {"func_evals": 0, "n_iter": 0}

    def _flat(self, grads):
        return mindspore.ops.cat([g.reshape(-1) for g in grads])

    def _move(self, t, d):
        offset = 0
        for p in self.parameters:
            n = p.size
            p.set_data(p + d[offset:offset + n].reshape(p.shape).astype(p.dtype) * _scalar(t, p.dtype))
            offset += n

    def step_closure(self, closure, grads):
        """torch's LBFGS.step(closure): `closure()` refills the gradients `grads()` returns.
        Scalars are 0-d tensors of the gradients' dtype, as in torch (a Python float would be
        float32 in MindSpore's arithmetic, 1e-9 off per step for float64 parameters)."""
        h, state = self._hyper, self._lbfgs
        lr, max_iter, max_eval = h["lr"], h["max_iter"], h["max_eval"]
        tolerance_grad, tolerance_change, history_size = h["tolerance_grad"], h["tolerance_change"], h["history_size"]
        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat(grads())
        if float(flat_grad.abs().max()) <= tolerance_grad:
            return orig_loss
        dtype = flat_grad.dtype
        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag, prev_flat_grad = state.get("H_diag"), state.get("prev_flat_grad")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:  # steepest descent first
                d = -flat_grad
                old_dirs, old_stps, ro, h_diag = [], [], [], _scalar(1.0, dtype)
            else:  # the curvature pair of the last step, then the two-loop recursion
                y = flat_grad - prev_flat_grad
                s = d * _scalar(t, dtype)
                ys = _dot(y, s)
                if float(ys) > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / _dot(y, y)
                al = [None] * len(old_dirs)
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = _dot(old_stps[i], q) * ro[i]
                    q = q - old_dirs[i] * al[i]
                r = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = _dot(old_dirs[i], r) * ro[i]
                    r = r + old_stps[i] * (al[i] - be_i)
                d = r
            prev_flat_grad = flat_grad
            prev_loss = loss
            if state["n_iter"] == 1:
                t = min(1.0, float(1.0 / flat_grad.abs().sum())) * lr
            else:
                t = lr
            if float(_dot(flat_grad, d)) > -tolerance_change:  # not a descent direction
                break
            ls_func_evals = 0
            self._move(t, d)
            opt_cond = False
            if n_iter != max_iter:
                loss = float(closure())
                flat_grad = self._flat(grads())
                opt_cond = float(flat_grad.abs().max()) <= tolerance_grad
                ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if float((d * _scalar(t, dtype)).abs().max()) <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break
        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad)
        return orig_loss

    def construct(self, gradients):
        raise RuntimeError("LBFGS needs its closure: optimizer.step(closure)")


def _scalar(value, dtype):
    return mindspore.Tensor(value, dtype)


def _dot(a, b):
    return (a * b).sum()
