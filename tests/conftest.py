import os
from pathlib import Path
import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')


@pytest.fixture(scope='session')
def smoke_world(tmp_path_factory):
    "`smoke_world(seed)`: the directory of the smoke world of `seed` with its benchmarks, built once per test session."
    from mmsearch.pipeline import build_world

    built = {}

    def make(seed: int = 0) -> Path:
        if seed not in built:
            out = tmp_path_factory.mktemp(f'smoke-seed{seed}') / 'w'
            built[seed] = build_world(out, seed=seed, size='smoke', progress=False)
        return built[seed]

    return make


@pytest.fixture(scope='session')
def world_dir(smoke_world):
    "The seed-0 smoke world's directory."
    return smoke_world(0)


@pytest.fixture(scope='module')
def world(world_dir):
    "The seed-0 smoke world: (its directory, the loaded `World`)."
    from mmsearch.world import World

    return world_dir, World.load(world_dir)


@pytest.fixture(scope='session')
def zoo(world_dir):
    "Paths of the smoke zoo on the seed-0 smoke world (built once into data/models/, shared with the notebooks)."
    from mmsearch.pipeline import ensure_zoo

    return ensure_zoo('smoke', world_dir, progress=False)
