import os
import pytest
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    "The seed-0 smoke world, built once per test module: (its directory, the loaded `World`)."
    from mmsearch.world import World
    from mmsearch.pipeline import build_world

    root = build_world(tmp_path_factory.mktemp('world') / 'w', seed=0, size='smoke', progress=False)
    return root, World.load(root)
