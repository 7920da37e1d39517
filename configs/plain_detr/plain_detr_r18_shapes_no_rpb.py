# The same small plain DETR without BoxRPB: plain global cross-attention (the paper's baseline
# row); everything else, seeds included, as plain_detr_r18_shapes.py.
_base_ = './plain_detr_r18_shapes.py'
model = dict(decoder=dict(layer_cfg=dict(cross_attn_cfg=dict(rpb_mode=None))))
