"""Plain DETR: hybrid-matching group mask, decoder isolation, loss / predict, bad input."""
import os.path as osp

import pytest
import torch

from tests.conftest import ROOT

SHAPES_CFG = osp.join(ROOT, 'configs/plain_detr/plain_detr_r18_shapes.py')


def _build(cfg_path=SHAPES_CFG, **overrides):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import mmdet_ext  # noqa: F401
    register_all_modules()
    cfg = Config.fromfile(cfg_path)
    cfg.model.update(overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _batch(model, shapes=((3, 256, 256), (3, 224, 192)), training=True):
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(len(shapes), [list(s) for s in shapes], num_items=[3, 5][:len(shapes)], num_classes=3)
    return model.data_preprocessor(packed, training)


def test_hybrid_self_attn_mask():
    from mmdet_ext.models.detectors.plain_detr import hybrid_self_attn_mask
    mask = hybrid_self_attn_mask(2, 3)
    expect = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 0, 0, 0]],
                          dtype=torch.bool)
    assert torch.equal(mask, expect)
    assert hybrid_self_attn_mask(4, 0) is None


def test_decoder_groups_do_not_see_each_other():
    """The one-to-one outputs do not depend on the one-to-many queries and equal a test-time
    run with the one-to-one queries alone."""
    from mmdet_ext.models.detectors.plain_detr import hybrid_self_attn_mask
    model = _build().eval()
    dec, reg = model.decoder, model.bbox_head.reg_branches
    d, n1, n2, H, W = model.embed_dims, 4, 6, 4, 5
    torch.manual_seed(1)
    memory, pos = torch.randn(1, H * W, d), torch.randn(1, H * W, d)
    query, ref = torch.randn(1, n1 + n2, d), torch.rand(1, n1 + n2, 4) * 0.5 + 0.2
    kw = dict(memory=memory, memory_pos=pos, key_padding_mask=None, feat_size=(H, W), stride=16,
              valid_ratios=torch.ones(1, 2), reg_branches=reg)
    with torch.no_grad():
        mask = hybrid_self_attn_mask(n1, n2)
        full, _ = dec(query=query, reference_points=ref, self_attn_mask=mask, **kw)
        q2, r2 = query.clone(), ref.clone()
        q2[:, n1:] = torch.randn(1, n2, d)
        r2[:, n1:] = torch.rand(1, n2, 4) * 0.5 + 0.2
        perturbed, _ = dec(query=q2, reference_points=r2, self_attn_mask=mask, **kw)
        alone, _ = dec(query=query[:, :n1], reference_points=ref[:, :n1], self_attn_mask=None, **kw)
        unmasked, _ = dec(query=q2, reference_points=r2, self_attn_mask=None, **kw)
    torch.testing.assert_close(perturbed[:, :, :n1], full[:, :, :n1])
    torch.testing.assert_close(alone, full[:, :, :n1], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(unmasked[:, :, :n1], full[:, :, :n1], atol=1e-4)


@pytest.mark.parametrize('rpb_mode', ['linear', None])
def test_loss_and_predict_on_random_batch(rpb_mode):
    model = _build()
    for layer in model.decoder.layers:
        assert layer.cross_attn.rpb_mode == 'linear'
    if rpb_mode is None:
        model = _build(osp.join(ROOT, 'configs/plain_detr/plain_detr_r18_shapes_no_rpb.py'))
        assert all(layer.cross_attn.rpb_mode is None for layer in model.decoder.layers)
    data = _batch(model)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    for key in ('loss_cls', 'loss_bbox', 'loss_iou', 'd0.loss_cls', 'o2m_loss_cls', 'o2m_d1.loss_iou',
                'enc_loss_cls', 'enc_loss_bbox'):
        assert key in losses and torch.isfinite(losses[key]), key
    sum(losses.values()).backward()
    if rpb_mode == 'linear':
        for layer in model.decoder.layers:
            assert layer.cross_attn.rpb_mlp_x[2].weight.grad.abs().sum() > 0
            assert layer.cross_attn.rpb_mlp_y[0].weight.grad.abs().sum() > 0
    assert model.query_embedding.weight.grad[50:].abs().sum() > 0  # one-to-many queries trained
    model.eval()
    data = _batch(model, training=False)
    with torch.no_grad():
        head_inputs = model.forward_transformer(model.extract_feat(data['inputs']), data['data_samples'])
        assert head_inputs['hidden_states'].shape[2] == 50  # only the one-to-one queries at test time
        results = model.predict(data['inputs'], data['data_samples'])
    for res in results:
        pred = res.pred_instances
        assert len(pred) == 50 and pred.bboxes.shape == (50, 4) and torch.isfinite(pred.bboxes).all()


def test_feature_stride_mismatch_raises():
    model = _build(feat_stride=8)
    data = _batch(model)
    with pytest.raises(ValueError, match='feature stride 8 does not match the image'):
        model.loss(data['inputs'], data['data_samples'])


def test_too_few_proposals_raises():
    model = _build(num_queries_one2many=2000)
    data = _batch(model, shapes=((3, 128, 128), ))
    with pytest.raises(ValueError, match='need as many proposals'):
        model.loss(data['inputs'], data['data_samples'])


# ---------------------------------------------------------------------- box re-parameterisation
REPARAM_CFG = osp.join(ROOT, 'configs/plain_detr/plain_detr_r18_shapes_reparam.py')


def test_box_delta_round_trip_and_clamp():
    import math

    from mmdet_ext.models.layers.plain_detr_layers import REPARAM_MAX_DWH, decode_box_deltas, encode_box_deltas
    torch.manual_seed(0)
    ref = torch.cat([torch.rand(2, 7, 2) * 300, torch.rand(2, 7, 2) * 100 + 2], -1)
    target = torch.cat([torch.rand(2, 7, 2) * 300, torch.rand(2, 7, 2) * 100 + 2], -1)
    deltas = encode_box_deltas(ref, target)
    torch.testing.assert_close(decode_box_deltas(ref, deltas), target, rtol=1e-5, atol=1e-3)
    # centre += d_xy * wh, wh *= exp(d_wh), by hand
    d = torch.tensor([[0.5, -0.25, math.log(2.0), math.log(0.5)]])
    r = torch.tensor([[100.0, 50.0, 40.0, 20.0]])
    torch.testing.assert_close(decode_box_deltas(r, d), torch.tensor([[120.0, 45.0, 80.0, 10.0]]))
    # |d_wh| is clamped at log(1000 / 16): a huge delta scales the size by 62.5 at most
    assert REPARAM_MAX_DWH == pytest.approx(math.log(1000 / 16))
    out = decode_box_deltas(r, torch.tensor([[0.0, 0.0, 50.0, -50.0]]))
    torch.testing.assert_close(out, torch.tensor([[100.0, 50.0, 40.0 * 62.5, 20.0 / 62.5]]))
    # zero deltas: the box itself
    torch.testing.assert_close(decode_box_deltas(ref, torch.zeros_like(ref)), ref, rtol=1e-6, atol=1e-4)


def test_reparam_zero_deltas_keep_input_boxes():
    """With the regression branches zeroed every layer's output box equals its input box."""
    model = _build(REPARAM_CFG).eval()
    assert model.decoder.box_reparam and model.bbox_head.box_reparam
    reg = model.bbox_head.reg_branches
    for branch in reg:
        torch.nn.init.zeros_(branch[-1].weight)
        torch.nn.init.zeros_(branch[-1].bias)
    d, nq, H, W = model.embed_dims, 5, 4, 6
    torch.manual_seed(2)
    ref = torch.cat([torch.rand(2, nq, 2) * 80 + 8, torch.rand(2, nq, 2) * 40 + 2], -1)  # pixels
    with torch.no_grad():
        hidden, refs = model.decoder(query=torch.randn(2, nq, d), memory=torch.randn(2, H * W, d),
                                     memory_pos=torch.randn(2, H * W, d), key_padding_mask=None,
                                     self_attn_mask=None, reference_points=ref, feat_size=(H, W), stride=16,
                                     valid_ratios=torch.ones(2, 2), reg_branches=reg)
        assert len(refs) == model.decoder.num_layers + 1
        for r in refs:
            torch.testing.assert_close(r, ref, rtol=1e-6, atol=1e-4)
        cls, boxes, deltas, inputs = model.bbox_head.forward_reparam(hidden, refs)
    assert torch.equal(deltas, torch.zeros_like(deltas))
    torch.testing.assert_close(boxes, ref.expand_as(boxes), rtol=1e-6, atol=1e-4)


def test_reparam_query_pos_matches_normalised_mode():
    """The query positional embedding and BoxRPB see the same boxes in both modes (normalised
    for the embedding, pixels for BoxRPB; cf. impiga/Plain-DETR#28): with zero regression the
    reparam decoder on pixel boxes equals the normalised decoder on the same boxes."""
    plain, reparam = _build(), _build(REPARAM_CFG)
    reparam.decoder.load_state_dict(plain.decoder.state_dict())
    reg = plain.bbox_head.reg_branches
    for branch in reg:
        torch.nn.init.zeros_(branch[-1].weight)
        torch.nn.init.zeros_(branch[-1].bias)
    d, nq, H, W, s = plain.embed_dims, 6, 4, 5, 16
    torch.manual_seed(3)
    norm = torch.cat([torch.rand(1, nq, 2) * 0.6 + 0.2, torch.rand(1, nq, 2) * 0.3 + 0.1], -1)
    px = norm * torch.tensor([W * s, H * s] * 2, dtype=torch.float32)
    kw = dict(query=torch.randn(1, nq, d), memory=torch.randn(1, H * W, d), memory_pos=torch.randn(1, H * W, d),
              key_padding_mask=None, self_attn_mask=None, feat_size=(H, W), stride=s,
              valid_ratios=torch.ones(1, 2), reg_branches=reg)
    with torch.no_grad():
        h_norm, _ = plain.eval().decoder(reference_points=norm, **kw)
        h_px, _ = reparam.eval().decoder(reference_points=px, **kw)
    # layer 0 sees identical inputs; later layers differ only by inverse_sigmoid's eps clamp
    torch.testing.assert_close(h_px[0], h_norm[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(h_px, h_norm, rtol=1e-3, atol=1e-3)


def test_delta_l1_cost_and_loss_by_hand():
    import math

    from mmdet.registry import TASK_UTILS
    from mmengine.structures import InstanceData
    model = _build(REPARAM_CFG)
    head = model.bbox_head
    assert head.loss_bbox.loss_weight == 1.0
    priors = torch.tensor([[50.0, 50.0, 20.0, 10.0], [100.0, 100.0, 40.0, 40.0]])  # cxcywh pixels
    deltas = torch.tensor([[0.1, -0.2, 0.3, 0.0], [0.5, 0.5, -0.5, -1.0]])
    gt = InstanceData(bboxes=torch.tensor([[40.0, 45.0, 60.0, 55.0]]), labels=torch.tensor([1]))  # cxcywh 50 50 20 10
    t0 = [0.0, 0.0, 0.0, 0.0]
    t1 = [(50 - 100) / 40, (50 - 100) / 40, math.log(20 / 40), math.log(10 / 40)]
    hand = torch.tensor([[sum(abs(a - b) for a, b in zip(deltas[i].tolist(), t))] for i, t in enumerate((t0, t1))])
    cost = TASK_UTILS.build(dict(type='DeltaL1Cost', weight=0.5))(InstanceData(deltas=deltas, priors=priors), gt)
    torch.testing.assert_close(cost, 0.5 * hand)
    with pytest.raises(KeyError, match='DeltaL1Cost needs pred_instances.deltas'):
        TASK_UTILS.build(dict(type='DeltaL1Cost'))(InstanceData(bboxes=priors), gt)
    # loss: equal scores, boxes = decoded deltas; query 0 is the obvious match (cost and IoU)
    from mmdet_ext.models.layers.plain_detr_layers import decode_box_deltas
    boxes = decode_box_deltas(priors, deltas)
    cls = torch.zeros(1, 2, 3)
    meta = dict(img_shape=(200, 200), batch_input_shape=(200, 200))
    loss_cls, loss_bbox, loss_iou = head.loss_by_feat_single_reparam(cls, boxes[None], deltas[None], priors[None],
                                                                      [gt], [meta])
    torch.testing.assert_close(loss_bbox, hand[0, 0])  # L1 weight 1, one positive
    from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
    giou = bbox_overlaps(bbox_cxcywh_to_xyxy(boxes[:1]), gt.bboxes, mode='giou', is_aligned=True)
    torch.testing.assert_close(loss_iou, head.loss_iou.loss_weight * (1 - giou[0]))
    assert torch.isfinite(loss_cls)


def test_reparam_loss_and_predict_on_random_batch():
    model = _build(REPARAM_CFG)
    data = _batch(model)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    for key in ('loss_cls', 'loss_bbox', 'loss_iou', 'd0.loss_bbox', 'o2m_loss_bbox', 'o2m_d1.loss_iou',
                'enc_loss_cls', 'enc_loss_bbox', 'enc_loss_iou'):
        assert key in losses and torch.isfinite(losses[key]), key
    sum(losses.values()).backward()
    for lid, layer in enumerate(model.decoder.layers):
        assert layer.cross_attn.rpb_mlp_x[2].weight.grad.abs().sum() > 0
        assert model.bbox_head.reg_branches[lid][-1].weight.grad.abs().sum() > 0
    assert model.bbox_head.reg_branches[-1][-1].weight.grad.abs().sum() > 0  # proposal deltas trained
    model.eval()
    data = _batch(model, training=False)
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
    for res, sample in zip(results, data['data_samples']):
        pred = res.pred_instances
        assert len(pred) == 50 and torch.isfinite(pred.bboxes).all()
        h, w = sample.ori_shape
        assert (pred.bboxes >= 0).all() and (pred.bboxes[:, 0::2] <= w).all() and (pred.bboxes[:, 1::2] <= h).all()
        assert (pred.bboxes[:, 2:] >= pred.bboxes[:, :2]).all()


def test_decoder_linear_init_trunc_normal():
    """Every Linear of the decoder layers (self-attn incl. packed in-projection, BoxRPB
    cross-attention, FFN): std ~0.02, zero bias."""
    model = _build()
    weights, count = [], 0
    for layer in model.decoder.layers:
        for m in layer.modules():
            params = []
            if isinstance(m, torch.nn.Linear):
                params = [(m.weight, m.bias)]
            elif isinstance(m, torch.nn.MultiheadAttention):
                params = [(m.in_proj_weight, m.in_proj_bias)]
            for w, b in params:
                count += 1
                weights.append(w.detach().flatten())
                if w.numel() >= 8192:
                    assert abs(w.std().item() - 0.02) < 0.002, (type(m), w.shape, w.std())
                if b is not None:
                    assert torch.equal(b, torch.zeros_like(b))
    assert count == model.decoder.num_layers * 12  # self in + out, q k v out, 2 x 2 BoxRPB, 2 FFN
    allw = torch.cat(weights)
    assert abs(allw.std().item() - 0.02) < 0.001 and allw.abs().max() < 0.2


def test_config_names_resolve_to_these_modules():
    from mmdet.registry import TASK_UTILS
    from mmdet_ext.models.dense_heads.plain_detr_head import PlainDETRHead
    from mmdet_ext.models.task_modules.assigners.delta_l1_cost import DeltaL1Cost
    model = _build()
    assert type(model.bbox_head) is PlainDETRHead
    assert type(TASK_UTILS.build(dict(type='DeltaL1Cost'))) is DeltaL1Cost
