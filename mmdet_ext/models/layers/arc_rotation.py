"""Rotating 3x3 convolution kernels for ARC (adaptive rotated convolution): pure tensor code.

Only ``torch`` is imported here (no mmcv / mmdet), so these functions run anywhere.

Conventions (``shared/specs/arc.md``): a 3x3 kernel is flattened row-major, tap index
``r * 3 + c`` with row 0 at the top. A tap's offset from the centre is ``(dx, dy) = (c - 1, r - 1)``
with x to the right and y down. ``M(theta)`` is a 9x9 matrix acting on the flattened kernel,
``W'[tap] = sum_src M[tap, src] W[src]``:

* the centre tap is unchanged;
* an edge tap at offset (dx, dy) is the bilinear interpolation of W at the rotated position
  ``(dx cos t - dy sin t, dx sin t + dy cos t)`` (inside the grid for any |t| <= 90 degrees);
* a corner tap interpolates linearly along the border towards its neighbouring edge tap
  (its rotated position would leave the grid): for t >= 0, with ``a = cos t - sin t``,
  ``TL = a TL + (1 - a) TM``, ``TR = a TR + (1 - a) MR``, ``BR = a BR + (1 - a) BM``,
  ``BL = a BL + (1 - a) ML``; for t < 0 the mirror image (TL takes ML, TR takes TM, BR takes MR,
  BL takes BM) with ``c = cos t + sin t``.

t > 0 turns the displayed kernel pattern counter-clockwise (content at TM moves towards TL).
Entries lie in [0, 1] for |t| <= 45 degrees; beyond that the corner weights turn negative.
"""
from typing import Dict, List, Tuple

import torch
from torch import Tensor

__all__ = ['rotation_matrix', 'rotate_kernels', 'combine_rotated_kernels', 'tap_index',
           'check_kernel_size']


def tap_index(dx: int, dy: int) -> int:
    """Row-major index of the tap at offset (dx, dy) from the centre of a 3x3 kernel."""
    return (dy + 1) * 3 + (dx + 1)


def check_kernel_size(kernel_size) -> Tuple[int, int]:
    """Return ``kernel_size`` as a pair; raise ValueError naming it unless it is 3x3."""
    pair = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
    if pair != (3, 3):
        raise ValueError(f'ARC rotates 3x3 kernels only; got kernel_size={pair}')
    return pair


# Edge taps (dx, dy) and the grid cell (x0, y0) their rotated position falls in, for t >= 0 and
# t < 0. The cell is fixed per branch (not floor()) so that at t = 0 the derivative is the
# t >= 0 branch's, which is non-zero: the angle head gets a gradient from the start.
_EDGE_CELLS: Dict[bool, Dict[Tuple[int, int], Tuple[int, int]]] = {
    True: {(0, -1): (0, -1), (-1, 0): (-1, -1), (1, 0): (0, 0), (0, 1): (-1, 0)},
    False: {(0, -1): (-1, -1), (-1, 0): (-1, 0), (1, 0): (0, -1), (0, 1): (0, 0)},
}
# Corner -> the edge tap it interpolates towards, for t >= 0 and t < 0.
_CORNER_SOURCE: Dict[bool, Dict[Tuple[int, int], Tuple[int, int]]] = {
    True: {(-1, -1): (0, -1), (1, -1): (1, 0), (1, 1): (0, 1), (-1, 1): (-1, 0)},
    False: {(-1, -1): (-1, 0), (1, -1): (0, -1), (1, 1): (1, 0), (-1, 1): (0, 1)},
}


def _branch_table(positive: bool) -> Tuple[List[int], List[Tuple[float, ...]], List[Tuple[float, ...]]]:
    """The non-zero entries of one sign branch of M, each a product of two affine functions of
    (1, sin t, cos t): returns flat indices (tap * 9 + src) and the two coefficient triples."""
    one = (1.0, 0.0, 0.0)
    corner = (0.0, -1.0, 1.0) if positive else (0.0, 1.0, 1.0)         # cos t -+ sin t
    corner_rest = tuple(o - c for o, c in zip(one, corner))            # 1 - that
    index, first, second = [tap_index(0, 0) * 9 + tap_index(0, 0)], [one], [one]
    for (dx, dy), (x0, y0) in _EDGE_CELLS[positive].items():
        # Rotated sample position minus the cell origin: fx = dx cos - dy sin - x0,
        # fy = dx sin + dy cos - y0; bilinear weights fx or 1 - fx, times fy or 1 - fy.
        fx, fy = (-x0, -dy, dx), (-y0, dx, dy)
        for nx, ny in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
            index.append(tap_index(dx, dy) * 9 + tap_index(nx, ny))
            first.append(fx if nx == x0 + 1 else tuple(o - f for o, f in zip(one, fx)))
            second.append(fy if ny == y0 + 1 else tuple(o - f for o, f in zip(one, fy)))
    for corner_tap, edge in _CORNER_SOURCE[positive].items():
        index += [tap_index(*corner_tap) * 9 + tap_index(*corner_tap),
                  tap_index(*corner_tap) * 9 + tap_index(*edge)]
        first += [corner, corner_rest]
        second += [one, one]
    return index, first, second


_CONSTANTS: Dict[tuple, Tuple[Tensor, ...]] = {}


def _constants(dtype: torch.dtype, device: torch.device) -> Tuple[Tensor, ...]:
    """Coefficients (3, 2E) of both factors of the entries of both branches (positive branch
    first), and for each branch the (81,) index of the entry that fills each slot of M (2E, a
    zero appended after the entries, where the slot is empty)."""
    key = (dtype, device)
    if key not in _CONSTANTS:
        first, second, slots = [], [], []
        offset = 0
        tables = [_branch_table(positive) for positive in (True, False)]
        num_entries = sum(len(index) for index, _, _ in tables)
        for index, a, b in tables:
            first += a
            second += b
            slot = torch.full((81, ), num_entries, dtype=torch.long)  # -> the appended zero
            slot[torch.tensor(index)] = torch.arange(offset, offset + len(index))
            slots.append(slot.to(device))
            offset += len(index)
        _CONSTANTS[key] = (torch.tensor(first, dtype=dtype).T.contiguous().to(device),
                           torch.tensor(second, dtype=dtype).T.contiguous().to(device), *slots)
    return _CONSTANTS[key]


def rotation_matrix(theta: Tensor) -> Tensor:
    """The kernel-rotation matrices M(theta), batched and differentiable in theta.

    Args:
        theta: angles in radians, any shape (...), e.g. (B, n) for B images and n kernels.
            Meant for |theta| <= 45 degrees (ARC's routing keeps |theta| < 40 degrees).

    Returns:
        Tensor (..., 9, 9) in theta's dtype: ``M[..., tap, src]`` maps a row-major flattened
        3x3 kernel to its rotated version. At theta = 0 the t >= 0 branch is used (for its
        non-zero derivative).
    """
    if not torch.is_floating_point(theta):
        raise TypeError(f'theta must be a floating-point tensor of radians, got {theta.dtype}')
    # A fixed handful of element-wise ops and gathers, whatever the batch (no tiny matmuls:
    # on a busy machine a threaded BLAS call on a 4x25 matrix can cost milliseconds). Every
    # entry is a product of two affine functions of (1, sin t, cos t).
    first, second, pos_slot, neg_slot = _constants(theta.dtype, theta.device)
    sin, cos = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    entries = (first[0] + first[1] * sin + first[2] * cos) * (second[0] + second[1] * sin + second[2] * cos)
    entries = torch.cat([entries, entries.new_zeros(entries.shape[:-1] + (1, ))], -1)
    flat = torch.where((theta >= 0)[..., None], entries.index_select(-1, pos_slot),
                       entries.index_select(-1, neg_slot))
    return flat.view(theta.shape + (9, 9))


def _check_bank(weight: Tensor) -> None:
    if weight.dim() != 5:
        raise ValueError('the kernel bank must be (n, C_out, C_in / groups, 3, 3), '
                         f'got shape {tuple(weight.shape)}')
    check_kernel_size(tuple(weight.shape[-2:]))


def rotate_kernels(weight: Tensor, theta: Tensor) -> Tensor:
    """Rotate every kernel of a bank by per-image angles (the reference, unfused form).

    Args:
        weight: (n, C_out, C_in / groups, 3, 3) kernel bank.
        theta: (B, n) angles in radians.

    Returns:
        (B, n, C_out, C_in / groups, 3, 3): ``M(theta[b, i]) W_i`` for each image b and kernel i.
    """
    _check_bank(weight)
    n = weight.shape[0]
    if theta.dim() != 2 or theta.shape[1] != n:
        raise ValueError(f'theta must be (B, {n}), got {tuple(theta.shape)}')
    flat = weight.reshape(n, -1, 9)                                   # (n, K, 9)
    rotated = torch.einsum('bnts,nks->bnkt', rotation_matrix(theta), flat)
    return rotated.reshape(theta.shape + weight.shape[1:])


def combine_rotated_kernels(weight: Tensor, lam: Tensor, theta: Tensor) -> Tensor:
    """Per-image kernels ``W_b = sum_i lam[b, i] M(theta[b, i]) W_i`` as one matrix product.

    The gates and rotations of all n kernels are folded into one (9, 9 n) matrix per image, so
    the bank is read once for the whole batch: cost 81 n C_out C_in / groups multiply-adds
    per image.

    Args:
        weight: (n, C_out, C_in / groups, 3, 3) kernel bank.
        lam: (B, n) gates.
        theta: (B, n) angles in radians.

    Returns:
        (B, C_out, C_in / groups, 3, 3) kernels, contiguous (ready for a grouped conv).
    """
    _check_bank(weight)
    n = weight.shape[0]
    if lam.shape != theta.shape or lam.dim() != 2 or lam.shape[1] != n:
        raise ValueError(f'lam and theta must both be (B, {n}); got {tuple(lam.shape)} and '
                         f'{tuple(theta.shape)}')
    batch = lam.shape[0]
    # mix[b, tap, (i, src)] = lam[b, i] * M(theta[b, i])[tap, src]
    mix = (lam[..., None, None] * rotation_matrix(theta)).transpose(1, 2).reshape(batch * 9, n * 9)
    # The bank as ((i, src), k) with k = (C_out, C_in / groups): a view when the bank is stored
    # tap-major (as AdaptiveRotatedConv2d stores it), a copy otherwise.
    bank = weight.permute(0, 3, 4, 1, 2).reshape(n * 9, -1)
    out = (mix @ bank).view(batch, 9, -1).transpose(1, 2)              # (B, K, 9)
    return out.contiguous().view((batch,) + weight.shape[1:])
