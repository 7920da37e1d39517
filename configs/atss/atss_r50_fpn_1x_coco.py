# mmdet's ATSS R-50 FPN 1x COCO config with SparseATSSAssigner (a drop-in: same assignments,
# memory bounded by G x k*L instead of P x G). Everything else is mmdet's.
_base_ = 'mmdet::atss/atss_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)
model = dict(train_cfg=dict(assigner=dict(_delete_=True, type='SparseATSSAssigner', topk=9)))
