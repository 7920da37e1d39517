"""Our names land in mmdet's and mmrotate's registries; existing names are never overwritten."""
import pytest
from mmdet.registry import DATASETS as MMDET_DATASETS, MODELS
from mmengine.registry import init_default_scope
from mmrotate.registry import DATASETS as MMROTATE_DATASETS

import mmdet_ext  # noqa: F401
from mmdet_ext.registry import register


def test_components_visible_from_both_scopes():
    assert MMDET_DATASETS.get('ShapesCocoDataset') is MMROTATE_DATASETS.get('ShapesCocoDataset')
    assert MMROTATE_DATASETS.get('mmdet.ShapesDOTADataset') is not None


def test_existing_names_are_refused():
    with pytest.raises(KeyError, match=r"'ATSS' is already registered in mmdet::model"):
        @register('MODELS', name='ATSS')
        class NotATSS:  # noqa: D401
            pass


@pytest.mark.parametrize('scope', ['mmdet', 'mmrotate'])
def test_unknown_type_names_key_and_registry(scope):
    init_default_scope(scope)
    with pytest.raises(KeyError, match=rf'NoSuchNeck is not in the {scope}::model registry'):
        MODELS.build(dict(type='NoSuchNeck'))
