# One-variable ablation of NSA with the spec's consistency factor 0.1 (where it was measured) on
# `shapes-fog`: the heavy view without its geometric change (the
# student's target view is the strong photometric one, as in the UDA baseline); light view,
# consistency losses, prototype contrast and the student pull unchanged.
_base_ = ['./nsa-spec-factor_faster-rcnn_r18_fpn_shapes-fog.py']

target_train = _base_.target_train
target_train.pipeline[-1].unsup_student = [dict(type='StrongPhotometricAugment'),
                                           dict(type='PackDetInputs', meta_keys=_base_.meta_keys)]
train_dataloader = dict(dataset=dict(datasets=[_base_.source_train, target_train]))
