"""The kernel-rotation matrix M(theta) of ARC: the spec's properties 1-4 and 6 (shared/specs/arc.md)."""
import ast
import math

import pytest
import torch

from mmdet_ext.models.layers import arc_rotation
from mmdet_ext.models.layers.arc_rotation import (combine_rotated_kernels, rotate_kernels,
                                                  rotation_matrix, tap_index)

DEG = math.pi / 180
# Angles over the whole admissible range, the branch point and both 45-degree ends included.
ANGLES = torch.tensor([-45.0, -40.0, -29.5, -10.0, -1e-3, 0.0, 1e-3, 7.0, 22.5, 33.0, 40.0, 45.0],
                      dtype=torch.float64) * DEG
TL, TM, TR, ML, C, MR, BL, BM, BR = range(9)
EDGES = {TM: (0, -1), ML: (-1, 0), MR: (1, 0), BM: (0, 1)}


def bilinear_sample(kernel, x, y):
    """An independent generic bilinear sampler of a 3x3 grid at (x, y), x right, y down, in
    [-1, 1]; node (i, j) sits at (j - 1, i - 1). Plain Python floats."""
    weights = {}
    for row in range(3):
        for col in range(3):
            w = max(0.0, 1 - abs(x - (col - 1))) * max(0.0, 1 - abs(y - (row - 1)))
            if w:
                weights[(row, col)] = w
    return sum(w * float(kernel[row, col]) for (row, col), w in weights.items())


def permutation(mapping):
    """9x9 permutation matrix P with (P w)[tap] = w[mapping(tap)] for taps given as (row, col)."""
    perm = torch.zeros(9, 9, dtype=torch.float64)
    for row in range(3):
        for col in range(3):
            src_row, src_col = mapping(row, col)
            perm[row * 3 + col, src_row * 3 + src_col] = 1
    return perm


FLIPS = {
    'left-right': permutation(lambda r, c: (r, 2 - c)),
    'up-down': permutation(lambda r, c: (2 - r, c)),
    'transpose': permutation(lambda r, c: (c, r)),
}


def test_pure_tensor_module_imports_only_torch():
    tree = ast.parse(open(arc_rotation.__file__).read())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split('.')[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or '').split('.')[0])
    assert roots <= {'torch', 'typing', 'math'}, roots


def test_tap_layout():
    assert [tap_index(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)] == list(range(9))


def test_identity_at_zero():
    assert torch.equal(rotation_matrix(torch.zeros(())), torch.eye(9))
    assert torch.equal(rotation_matrix(torch.zeros(2, 3, dtype=torch.float64)),
                       torch.eye(9, dtype=torch.float64).expand(2, 3, 9, 9))


def test_rows_sum_to_one_and_entries_in_unit_interval():
    mats = rotation_matrix(ANGLES)
    assert mats.shape == (len(ANGLES), 9, 9)
    torch.testing.assert_close(mats.sum(-1), torch.ones(len(ANGLES), 9, dtype=torch.float64))
    assert mats.min() >= -1e-12 and mats.max() <= 1 + 1e-12
    # Rows sum to 1 at any angle, but beyond 45 degrees the corner weights turn negative.
    beyond = rotation_matrix(torch.tensor([60.0, -60.0], dtype=torch.float64) * DEG)
    torch.testing.assert_close(beyond.sum(-1), torch.ones(2, 9, dtype=torch.float64))
    assert beyond.min() < 0


def test_corners_equal_neighbouring_edges_at_45_degrees():
    kernel = torch.arange(1.0, 10.0, dtype=torch.float64)
    pos = rotation_matrix(torch.tensor(45 * DEG, dtype=torch.float64)) @ kernel
    neg = rotation_matrix(torch.tensor(-45 * DEG, dtype=torch.float64)) @ kernel
    # t = +45: TL takes TM, TR takes MR, BR takes BM, BL takes ML (a = cos t - sin t = 0).
    for corner, edge in ((TL, TM), (TR, MR), (BR, BM), (BL, ML)):
        assert pos[corner] == pytest.approx(kernel[edge].item(), abs=1e-12)
    # t = -45: the mirror image.
    for corner, edge in ((TL, ML), (TR, TM), (BR, MR), (BL, BM)):
        assert neg[corner] == pytest.approx(kernel[edge].item(), abs=1e-12)


@pytest.mark.parametrize('theta', ANGLES.tolist())
def test_edge_taps_are_bilinear_samples_and_centre_is_fixed(theta):
    kernel = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    rotated = rotation_matrix(torch.tensor(theta, dtype=torch.float64)) @ kernel.flatten()
    assert rotated[C] == kernel[1, 1]
    cos, sin = math.cos(theta), math.sin(theta)
    for tap, (dx, dy) in EDGES.items():
        expected = bilinear_sample(kernel, dx * cos - dy * sin, dx * sin + dy * cos)
        assert rotated[tap].item() == pytest.approx(expected, abs=1e-12), (tap, theta)


def test_corner_rule():
    theta = 25 * DEG
    mat = rotation_matrix(torch.tensor([theta, -theta], dtype=torch.float64))
    a = math.cos(theta) - math.sin(theta)  # = cos(-t) + sin(-t)
    for branch, pairs in ((0, ((TL, TM), (TR, MR), (BR, BM), (BL, ML))),
                          (1, ((TL, ML), (TR, TM), (BR, MR), (BL, BM)))):
        for corner, edge in pairs:
            expected = torch.zeros(9, dtype=torch.float64)
            expected[corner], expected[edge] = a, 1 - a
            torch.testing.assert_close(mat[branch, corner], expected)


def test_positive_angle_turns_pattern_counter_clockwise():
    kernel = torch.zeros(9)
    kernel[TM] = 1  # a pattern at the top, displayed row 0 up
    rotated = rotation_matrix(torch.tensor(30 * DEG)) @ kernel
    assert rotated[TL] > 0 and rotated[TR] == 0 and rotated[ML] > 0 and rotated[MR] == 0


@pytest.mark.parametrize('flip', sorted(FLIPS))
def test_mirror_symmetry(flip):
    perm = FLIPS[flip]
    mats, mirrored = rotation_matrix(ANGLES), rotation_matrix(-ANGLES)
    torch.testing.assert_close(mirrored, perm @ mats @ perm.T)
    # Hence flip-equivariance of a rotated kernel: flip(M(t) W) = M(-t) flip(W).
    kernel = torch.randn(9, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close((mats @ kernel) @ perm.T, mirrored @ (perm @ kernel))


def test_batched_matches_elementwise():
    theta = (torch.rand(3, 4, generator=torch.Generator().manual_seed(2)) - 0.5) * 80 * DEG
    batched = rotation_matrix(theta)
    assert batched.shape == (3, 4, 9, 9)
    for b in range(3):
        for i in range(4):
            torch.testing.assert_close(batched[b, i], rotation_matrix(theta[b, i]))


def test_differentiable_in_theta():
    theta = torch.tensor([0.3, -0.2, 0.6, -0.65], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rotation_matrix, (theta, ))
    # At t = 0 the derivative is the t >= 0 branch's, and it is not zero (property 6).
    zero = torch.zeros((), dtype=torch.float64, requires_grad=True)
    jac = torch.autograd.functional.jacobian(rotation_matrix, zero)
    h = 1e-6
    right = (rotation_matrix(torch.tensor(h, dtype=torch.float64)) - torch.eye(9, dtype=torch.float64)) / h
    torch.testing.assert_close(jac, right, atol=1e-5, rtol=0)
    assert jac.abs().sum() > 1


def test_combination_equals_sum_of_rotated_kernels():
    gen = torch.Generator().manual_seed(3)
    bank = torch.randn(3, 5, 2, 3, 3, dtype=torch.float64, generator=gen)
    lam = torch.rand(4, 3, dtype=torch.float64, generator=gen)
    theta = (torch.rand(4, 3, dtype=torch.float64, generator=gen) - 0.5) * 80 * DEG
    rotated = rotate_kernels(bank, theta)
    assert rotated.shape == (4, 3, 5, 2, 3, 3)
    manual = torch.stack([
        sum(lam[b, i] * (rotation_matrix(theta[b, i]) @ bank[i].reshape(-1, 9).T).T.reshape(5, 2, 3, 3)
            for i in range(3)) for b in range(4)])
    combined = combine_rotated_kernels(bank, lam, theta)
    assert combined.shape == (4, 5, 2, 3, 3) and combined.is_contiguous()
    torch.testing.assert_close(combined, manual)
    torch.testing.assert_close((lam[..., None, None, None, None] * rotated).sum(1), manual)


def test_bad_inputs():
    with pytest.raises(TypeError, match='floating'):
        rotation_matrix(torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r'kernel_size=\(5, 5\)'):
        combine_rotated_kernels(torch.zeros(2, 4, 4, 5, 5), torch.ones(1, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r'\(B, 2\)'):
        combine_rotated_kernels(torch.zeros(2, 4, 4, 3, 3), torch.ones(1, 3), torch.zeros(1, 3))
