"""Integrated batch norm (iBN, SEPC): one BatchNorm over all pyramid levels together.

Statistics are taken over the batch and every position of every level, i.e. BN of the levels
concatenated along the spatial axis; each level is then normalised with the shared statistics.
Under distributed training (``sync``) the sums are all-reduced (with autograd) so the statistics
are those of the global batch: works on any backend, gloo on CPU included (torch's and mmcv's
SyncBatchNorm need CUDA).
"""
from typing import List, Sequence, Tuple, Union

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


def concat_levels(feats: Sequence[Tensor]) -> Tensor:
    """(N, C, H_l, W_l) per level -> (N, C, 1, sum_l H_l * W_l)."""
    return torch.cat([f.flatten(2) for f in feats], dim=2).unsqueeze(2)


def split_levels(flat: Tensor, like: Sequence[Tensor]) -> List[Tensor]:
    """Inverse of :func:`concat_levels` (views into ``flat``)."""
    sizes = [f.shape[2] * f.shape[3] for f in like]
    return [part.reshape(f.shape) for part, f in zip(flat.squeeze(2).split(sizes, dim=2), like)]


def global_mean_var(flat: Tensor, group=None):
    """Per-channel mean and biased variance of ``flat`` (N, C, 1, L) over every process of the
    group, differentiable (the all-reduce's backward all-reduces the gradient). Returns
    (mean (C,), var (C,), count (scalar tensor))."""
    from torch.distributed.nn.functional import all_reduce
    c = flat.shape[1]
    packed = torch.cat([flat.sum(dim=(0, 2, 3)), flat.new_tensor([flat.numel() / c])])
    packed = all_reduce(packed, group=group or dist.group.WORLD)
    count = packed[c]
    mean = packed[:c] / count
    # two passes (mean first) rather than sum of squares: no cancellation
    sq = ((flat - mean.view(1, c, 1, 1)) ** 2).sum(dim=(0, 2, 3))
    var = all_reduce(sq, group=group or dist.group.WORLD) / count
    return mean, var, count


class IntegratedBN(nn.BatchNorm2d):
    """BatchNorm2d(C) applied to a list of pyramid levels with statistics pooled over all levels.

    Args:
        num_features: channels C.
        sync: ``'auto'`` (default): all-reduce the statistics when a process group with more than
            one process is initialised (the improvement over the original's per-GPU BN);
            ``True``: the same, ``False``: per-process statistics (the original).
        eps, momentum: as ``nn.BatchNorm2d``.

    Forward: list of (N, C, H_l, W_l) -> list of the same shapes. In eval mode each level is
    normalised with the running statistics directly (no concatenation copies).
    """

    def __init__(self, num_features: int, sync: Union[bool, str] = 'auto', eps: float = 1e-5,
                 momentum: float = 0.1):
        super().__init__(num_features, eps=eps, momentum=momentum)
        if sync not in (True, False, 'auto'):
            raise ValueError(f"IntegratedBN: sync must be True, False or 'auto', received {sync!r}")
        self.sync = sync

    def _synchronised(self) -> bool:
        return (self.sync is not False and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1)

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:  # type: ignore[override]
        for f in feats:
            if f.dim() != 4 or f.shape[1] != self.num_features:
                raise ValueError(f'IntegratedBN expects (N, {self.num_features}, H, W) levels, received '
                                 f'{[tuple(x.shape) for x in feats]}')
        if not self.training:
            return [F.batch_norm(f, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0,
                                 self.eps) for f in feats]
        flat = concat_levels(feats)
        if self._synchronised():
            out = self._sync_forward(flat)
        else:
            out = super().forward(flat)
        return split_levels(out, feats)

    def folded_affine(self) -> Tuple[Tensor, Tensor]:
        """Eval mode's per-channel affine map y = scale * x + shift (running statistics), (C,) each,
        for folding into the preceding convolutions."""
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        return scale, self.bias - self.running_mean * scale

    def _sync_forward(self, flat: Tensor) -> Tensor:
        mean, var, count = global_mean_var(flat)
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            unbiased = var * count / (count - 1).clamp(min=1)
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(unbiased.detach(), alpha=m)
        c = self.num_features
        scale = self.weight * torch.rsqrt(var + self.eps)
        return (flat - mean.view(1, c, 1, 1)) * scale.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
