"""Annotation files for Foggy Cityscapes from the Cityscapes ones (same boxes, new file names).

Foggy Cityscapes renders every Cityscapes image with synthetic fog at three densities and keeps
its labels; only the file names change (``*_leftImg8bit.png`` ->
``*_leftImg8bit_foggy_beta_0.02.png``). With MMDetection's converter output in place:

    python tools/data/cityscapes/foggy_annotations.py data/cityscapes [--beta 0.02] [--splits train val]

writes ``annotations/instancesonly_filtered_gtFine_<split>_foggy_beta_<beta>.json`` and checks
that every image exists under ``leftImg8bit_foggy/<split>/`` (``--no-check`` skips that).
"""
import argparse
import json
import os.path as osp
import sys

SUFFIX = '_leftImg8bit.png'


def foggy_name(file_name: str, beta: str) -> str:
    if not file_name.endswith(SUFFIX):
        raise ValueError(f'{file_name!r} is not a Cityscapes leftImg8bit file name (expected *{SUFFIX})')
    return file_name[:-len(SUFFIX)] + f'_leftImg8bit_foggy_beta_{beta}.png'


def convert(root: str, split: str, beta: str, check: bool = True) -> str:
    src = osp.join(root, 'annotations', f'instancesonly_filtered_gtFine_{split}.json')
    if not osp.isfile(src):
        raise FileNotFoundError(f'{src} does not exist: run MMDetection\'s '
                                f'tools/dataset_converters/cityscapes.py {root} first')
    with open(src) as f:
        coco = json.load(f)
    missing = []
    for image in coco['images']:
        image['file_name'] = foggy_name(image['file_name'], beta)
        if check and not osp.isfile(osp.join(root, 'leftImg8bit_foggy', split, image['file_name'])):
            missing.append(image['file_name'])
    if missing:
        raise FileNotFoundError(f'{len(missing)} of {len(coco["images"])} foggy images are missing under '
                                f'{osp.join(root, "leftImg8bit_foggy", split)}, e.g. {missing[0]!r}')
    dst = osp.join(root, 'annotations', f'instancesonly_filtered_gtFine_{split}_foggy_beta_{beta}.json')
    with open(dst, 'w') as f:
        json.dump(coco, f)
    return dst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', help='the Cityscapes root (holds annotations/ and leftImg8bit_foggy/)')
    parser.add_argument('--beta', default='0.02', choices=['0.005', '0.01', '0.02'])
    parser.add_argument('--splits', nargs='+', default=['train', 'val'])
    parser.add_argument('--no-check', action='store_true', help='do not check that the images exist')
    args = parser.parse_args(argv)
    for split in args.splits:
        print(convert(args.root, split, args.beta, check=not args.no_check))


if __name__ == '__main__':
    sys.exit(main())
