#!/usr/bin/env python
"""Generate the embedded synthetic datasets under ``--root`` (default ``data/``).

    python tools/misc/generate_data.py {shapes,shapes-rot,shapes-rot-dense,shapes-fog,all}
        [--root data] [--seed 0] [--force]

Folders: ``<root>/shapes``, ``<root>/shapes_rot``, ``<root>/shapes_rot_dense``,
``<root>/shapes_fog``. Existing complete data generated with the same parameters is kept
(``--force`` deletes and regenerates it). Datasets configured with ``generate=dict(...)``
do the same on first use, so running this tool is optional.

The generator package is loaded straight from its files, so this works from a checkout
without installing and without importing mmdet / torch.
"""
import argparse
import importlib.util
import os.path as osp
import shutil
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PKG_DIR = osp.join(REPO_ROOT, 'mmdet_ext', 'datasets', 'synthetic')


def load_synthetic():
    """Import ``mmdet_ext/datasets/synthetic`` as a standalone package (no ``mmdet_ext``
    package import, which would import mmdet)."""
    name = '_mmdet_ext_synthetic'
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, osp.join(PKG_DIR, '__init__.py'), submodule_search_locations=[PKG_DIR])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    synthetic = load_synthetic()
    kinds = list(synthetic.DEFAULT_DIRS)
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('kind', choices=kinds + ['all'])
    parser.add_argument('--root', default='data', help='parent folder (default: data)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true',
                        help='delete existing data and regenerate it')
    args = parser.parse_args(argv)
    start = time.perf_counter()
    for kind in (kinds if args.kind == 'all' else [args.kind]):
        root = osp.join(args.root, synthetic.DEFAULT_DIRS[kind])
        if args.force and osp.exists(root):
            print(f'--force: deleting {root}', flush=True)
            shutil.rmtree(root)
        done_before = osp.isfile(osp.join(root, '.complete'))
        try:
            synthetic.ensure_dataset(kind, root, seed=args.seed)
        except ValueError as e:
            sys.exit(f'error: {e}')
        if done_before:
            print(f'{kind!r}: complete data already at {root} (same parameters); kept. '
                  f'Use --force to regenerate.', flush=True)
    print(f'done in {time.perf_counter() - start:.1f} s', flush=True)


if __name__ == '__main__':
    main()
