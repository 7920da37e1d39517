# The COCO recipe without BoxRPB: plain global cross-attention (the paper's 37.2 AP baseline row
# with Swin-v2-S); everything else as plain_detr_r50_12e_coco.py.
_base_ = './plain_detr_r50_12e_coco.py'
model = dict(decoder=dict(layer_cfg=dict(cross_attn_cfg=dict(rpb_mode=None))))
