"""Split DOTA images into patches with MMRotate's ``img_split.py`` and our split configs.

mmrotate-dev ships ``tools/data/dota/split/img_split.py`` but not the ``split_configs/*.json``
it expects, so they live here (1024 patches, gap 200, IoF 0.7; multi-scale: rates 0.5/1/1.5,
gap 500). Any ``img_split.py`` flag after the config overrides the JSON:

    python tools/data/dota/split.py ss_trainval                      # data/DOTA -> data/split_ss_dota/trainval
    python tools/data/dota/split.py ss_test --img-dirs /x/test/images/ --save-dir /y/test/
"""
import os.path as osp
import runpy
import sys

CONFIG_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'split_configs')


def img_split_script() -> str:
    import mmrotate
    path = osp.join(osp.dirname(mmrotate.__file__), '.mim', 'tools', 'data', 'dota', 'split', 'img_split.py')
    if not osp.isfile(path):
        raise FileNotFoundError(f'MMRotate\'s splitting tool is not at {path}; is mmrotate-dev installed?')
    return path


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith('-'):
        sys.exit(f'usage: split.py CONFIG [img_split.py flags]; CONFIG is a path or one of '
                 f'ss_trainval, ss_test, ms_trainval, ms_test ({CONFIG_DIR})')
    config = argv.pop(0)
    if not config.endswith('.json'):
        config = osp.join(CONFIG_DIR, f'{config}.json')
    if not osp.isfile(config):
        raise FileNotFoundError(f'split config {config!r} does not exist')
    script = img_split_script()
    old_argv = sys.argv
    sys.argv = [script, '--base-json', config, *argv]
    try:
        runpy.run_path(script, run_name='__main__')
    finally:
        sys.argv = old_argv


if __name__ == '__main__':
    main()
