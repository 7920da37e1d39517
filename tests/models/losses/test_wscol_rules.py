"""WSCoL's rules (specs/sfod.md section 2, the testable list): memory bank, prototypes,
clustering, forced labels, SupCon, the uncertainty estimator and its switch."""
import pytest
import torch

from mmdet_ext.models.losses.wscol_rules import (blend_distances, cluster_distances, contrast_background,
                                                 force_hpl_labels, memory_bank_push, memory_bank_read,
                                                 nms_count_variance, supcon_loss, supcon_positives,
                                                 teacher_neighbours, update_prototypes,
                                                 weak_to_strong_distillation)


def empty_bank(num_classes=2, length=3, dims=2):
    return (torch.zeros(num_classes, length, dims), torch.zeros(num_classes, dtype=torch.long),
            torch.zeros(num_classes, dtype=torch.long))


def test_fifo_evicts_the_oldest():
    bank, filled, head = empty_bank()
    feats = torch.arange(5.)[:, None].repeat(1, 2)  # features 0, 1, 2, 3, 4 of class 0
    memory_bank_push(bank, filled, head, feats[:2], torch.tensor([0, 0]))
    memory_bank_push(bank, filled, head, torch.full((1, 2), 9.), torch.tensor([1]))
    out, labels = memory_bank_read(bank, filled, head)
    assert out[:, 0].tolist() == [0., 1., 9.] and labels.tolist() == [0, 0, 1]
    memory_bank_push(bank, filled, head, feats[2:], torch.tensor([0, 0, 0]))
    out, labels = memory_bank_read(bank, filled, head)
    # Length 3: 0 and 1 evicted, 2, 3, 4 kept oldest first; class 1 untouched.
    assert out[:, 0].tolist() == [2., 3., 4., 9.] and labels.tolist() == [0, 0, 0, 1]
    assert filled.tolist() == [3, 1]


def test_empty_bank_reads_nothing_and_bad_input_is_named():
    bank, filled, head = empty_bank()
    out, labels = memory_bank_read(bank, filled, head)
    assert out.shape == (0, 2) and labels.shape == (0,)
    with pytest.raises(ValueError, match='shape'):
        memory_bank_push(bank, filled, head, torch.zeros(1, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match=r'labels must be in \[0, 2\)'):
        memory_bank_push(bank, filled, head, torch.zeros(1, 2), torch.tensor([2]))


def test_prototype_first_sight_then_point_six_point_four():
    protos, init = torch.zeros(2, 2), torch.zeros(2, dtype=torch.bool)
    update_prototypes(protos, init, torch.tensor([[1., 0.], [3., 2.]]), torch.tensor([0, 0]))
    assert protos[0].tolist() == [2., 1.] and init.tolist() == [True, False]
    assert protos[1].tolist() == [0., 0.]  # never seen: untouched
    update_prototypes(protos, init, torch.tensor([[12., 11.], [-4., 4.]]), torch.tensor([0, 1]))
    assert torch.allclose(protos[0], 0.6 * torch.tensor([2., 1.]) + 0.4 * torch.tensor([12., 11.]))
    assert protos[1].tolist() == [-4., 4.] and init.tolist() == [True, True]


def blobs(per_class=30, dims=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = 5. * torch.eye(3, dims)
    labels = torch.arange(3).repeat_interleave(per_class)
    feats = centres[labels] + 0.3 * torch.randn(len(labels), dims, generator=g)
    return feats, labels, centres


def test_clustering_recovers_three_blobs_given_the_prototypes():
    feats, labels, centres = blobs()
    # Uninformative (random) class probabilities: only the prototypes carry the classes.
    probs = torch.softmax(torch.randn(len(labels), 3, generator=torch.Generator().manual_seed(1)), 1)
    dist = cluster_distances(feats, probs, centroids=centres, num_iters=4)
    assert torch.equal(dist.argmin(1), labels)


def test_clustering_without_prototypes_starts_from_the_probabilities():
    feats, labels, _ = blobs()
    probs = torch.full((len(labels), 3), 0.1)
    probs[torch.arange(len(labels)), labels] = 0.8
    # A few wrong soft labels are corrected by the hard-assignment rounds.
    probs[:5] = probs[:5].roll(1, dims=1)
    assert torch.equal(cluster_distances(feats, probs).argmin(1), labels)


def test_classes_absent_get_infinite_distance_and_blend_follows_rho():
    feats, labels, centres = blobs()
    probs = torch.zeros(len(labels), 3)
    probs[:, 0] = 1.  # only class 0 present in the probabilities
    raw = cluster_distances(feats, probs)
    assert torch.isinf(raw[:, 1:]).all() and torch.isfinite(raw[:, 0]).all()
    proto = cluster_distances(feats, probs, centroids=centres)
    assert torch.equal(blend_distances(raw, proto, 1.0), proto)
    mixed = blend_distances(raw, proto, 0.25)
    assert torch.allclose(mixed[:, 0], 0.75 * raw[:, 0] + 0.25 * proto[:, 0])
    assert torch.isinf(mixed[:, 1:]).all()


def test_only_some_prototypes_replace_their_rows():
    feats, labels, centres = blobs()
    probs = torch.full((len(labels), 3), 1 / 3)
    mask = torch.tensor([True, False, False])
    dist = cluster_distances(feats, probs, centroids=centres, centroid_mask=mask)
    assert torch.isfinite(dist[:, 0]).all()
    with pytest.raises(ValueError, match='centroids must be'):
        cluster_distances(feats, probs, centroids=centres[:, :4])


def test_forced_labels_survive():
    proposals = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [50., 50., 60., 60.]])
    cluster = torch.tensor([3, 3, 1])  # clustering said background for the first two
    hpl = torch.tensor([[0., 0., 10., 10.]])
    out = force_hpl_labels(cluster, proposals, hpl, torch.tensor([2]))
    assert out.tolist() == [2, 2, 1] and cluster.tolist() == [3, 3, 1]
    assert force_hpl_labels(cluster, proposals, hpl.new_zeros((0, 4)), torch.tensor([], dtype=torch.long)).tolist() \
        == [3, 3, 1]


def test_supcon_lower_for_consistent_labels_and_scale_invariant():
    feats, labels, _ = blobs(per_class=20)
    all_neighbours = torch.ones(len(labels), len(labels), dtype=torch.bool)
    consistent = supcon_loss(feats, supcon_positives(labels, all_neighbours, background=3))
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    random = supcon_loss(feats, supcon_positives(shuffled, all_neighbours, background=3))
    assert consistent < random
    scaled = supcon_loss(7.3 * feats, supcon_positives(labels, all_neighbours, background=3))
    assert scaled.item() == pytest.approx(consistent.item(), rel=1e-5)


def test_supcon_without_positives_is_an_attached_zero():
    emb = torch.randn(4, 3, requires_grad=True)
    loss = supcon_loss(emb, torch.zeros(4, 4, dtype=torch.bool))
    assert loss.item() == 0 and loss.requires_grad


def test_positives_need_a_teacher_neighbour_except_for_background():
    labels = torch.tensor([0, 0, 0, 2, 2])  # background = 2
    neighbours = torch.zeros(5, 5, dtype=torch.bool)
    neighbours[0, 1] = True
    pos = supcon_positives(labels, neighbours, background=2)
    assert pos[0].tolist() == [False, True, False, False, False]
    assert not pos[2].any()  # same label but no neighbour
    assert pos[3].tolist() == [False, False, False, False, True]  # every other background


def test_teacher_neighbours_are_the_nearest_by_cosine():
    emb = torch.tensor([[1., 0.], [0.9, 0.1], [0., 1.], [0.1, 0.9]])
    nb = teacher_neighbours(emb, 1)
    assert nb.nonzero().tolist() == [[0, 1], [1, 0], [2, 3], [3, 2]]
    assert teacher_neighbours(emb[:1], 5).sum() == 0


def test_variance_cases():
    box = torch.tensor([[10., 10., 50., 50.]])
    identical = box.repeat(6, 1)
    assert nms_count_variance(identical, torch.rand(6)) == 0.  # always one survivor
    disjoint = torch.tensor([[100. * i, 0., 100. * i + 20, 20.] for i in range(6)])
    assert nms_count_variance(disjoint, torch.rand(6)) == 0.  # always all six
    # Nested clusters: shrinking boxes around one centre overlap with IoUs from 0.17 to 0.8,
    # so each threshold keeps a different number.
    nested = torch.tensor([[50. - s, 50. - s, 50. + s, 50. + s] for s in (40., 36., 32., 28., 24., 20., 16.)])
    scores = torch.linspace(1., 0.5, len(nested))
    assert nms_count_variance(nested, scores) > 0.
    assert nms_count_variance(box.new_zeros((0, 4)), box.new_zeros(0)) == 0.


def test_variance_is_the_population_variance_of_the_counts():
    # Two boxes with IoU 0.25: thresholds 0, 0.1, 0.2 keep 1; 0.3, 0.4, 0.5 keep 2.
    boxes = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 2.5]])  # IoU 0.25
    counts = torch.tensor([1., 1., 1., 2., 2., 2.])
    assert nms_count_variance(boxes, torch.tensor([1., .5])) == pytest.approx(counts.var(unbiased=False).item())


def test_switch_at_twenty():
    assert contrast_background(0.) and contrast_background(20.)
    assert not contrast_background(20.001)


def test_weak_to_strong_distillation():
    z = torch.tensor([[2., 0., -1.], [0., 1., 0.]])
    assert weak_to_strong_distillation(z, z.clone()).item() == pytest.approx(0., abs=1e-7)
    z_s = torch.tensor([[0., 0., 0.], [1., 0., 0.]], requires_grad=True)
    p = torch.softmax(z, 1)
    expected = (p * (p.log() - torch.log_softmax(z_s, 1))).sum(1).mean()
    loss = weak_to_strong_distillation(z, z_s)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert z_s.grad is not None
    assert weak_to_strong_distillation(z[:0], z_s[:0]).item() == 0.
