"The trajectory viewer, driven with no kernel: widget values must equal the pure renderers' output."

import base64, io, re
import pytest
from PIL import Image
from mmsearch.world import World
from mmsearch.pipeline import build_world
from mmsearch.bench import load_benchmark
from mmsearch.search import serve
from mmsearch.tools import ToolContext, to_pixels
from mmsearch.rollout import rollout, OraclePolicy, ScriptedPolicy, Trajectory
from mmsearch.viewer import (
    TrajectoryViewer,
    step_png,
    step_html,
    step_boxes,
    trajectory_html,
    trajectories_html,
    n_frames,
)


@pytest.fixture(scope='module')
def trajs(tmp_path_factory):
    root = build_world(tmp_path_factory.mktemp('w') / 'w', seed=1, size='smoke', progress=False)
    w = World.load(root)
    with serve(root) as url:
        ctx = ToolContext.local(url)
        ts = rollout(OraclePolicy(w, reflect_rate=1.0), load_benchmark(root, 'vdr', 'testmini')[:3], ctx)
        ts += rollout(OraclePolicy(w), load_benchmark(root, 'textqa', 'test')[:1], ctx)
        ts += rollout(
            ScriptedPolicy(['<b>bold</b> & <script>alert(1)</script>']),
            load_benchmark(root, 'vdr', 'testmini')[:1],
            ctx,
        )
    return ts


def test_slider_drives_image_and_html(trajs):
    t = trajs[0]
    v = TrajectoryViewer(t)
    assert n_frames(t) >= 4 and v.slider.max == n_frames(t) - 1 and v.play.max == v.slider.max
    seen = set()
    for i in [*range(n_frames(t)), 1, 0]:
        v.slider.value = i
        assert v.image.value == step_png(t, i) and v.html.value == step_html(t, i)
        seen.add(v.image.value)
    assert len(seen) >= 2  # frames differ where the boxes differ


def test_play_is_linked_and_dropdown_switches(trajs):
    v = TrajectoryViewer(trajs)
    assert v.link.source == (v.play, 'value') and v.link.target == (v.slider, 'value')
    v.slider.value = n_frames(trajs[0]) - 1
    v.pick.value = 3  # the text question: fewer frames, slider resets
    t = trajs[3]
    assert v.slider.max == n_frames(t) - 1 and v.slider.value <= v.slider.max
    assert v.image.value == step_png(t, v.slider.value) and v.html.value == step_html(t, v.slider.value)
    v.pick.value = 0
    v.slider.value = 1
    assert v.html.value == step_html(trajs[0], 1)


def test_boxes_are_drawn_where_the_crop_was(trajs):
    t = trajs[0]
    i = next(k for k, s in enumerate(t.steps) if step_boxes(t, k))
    box = step_boxes(t, i)[0]
    img = Image.open(io.BytesIO(step_png(t, i))).convert('RGB')
    base = Image.open(t.images[0]).convert('RGB')
    scale = 384 / base.height
    x1, y1, x2, y2 = to_pixels(box, (round(base.width * scale), 384))
    assert img.getpixel((x1 + 1, (y1 + y2) // 2)) == (230, 25, 75)  # the first box's colour on its left edge
    assert img.width > round(base.width * scale)  # the crops column


def test_text_question_has_a_placeholder_image(trajs):
    t = trajs[3]
    assert not t.images and Image.open(io.BytesIO(step_png(t, 0))).size[0] > 0


def test_html_escapes_model_output(trajs):
    h = step_html(trajs[4], 0)
    assert '<script>' not in h and '&lt;script&gt;' in h and '&amp;' in h


def test_static_page_inlines_every_shown_image(trajs):
    t = trajs[0]
    page = trajectory_html(t)
    pngs = [base64.b64decode(m) for m in re.findall(r'data:image/png;base64,([A-Za-z0-9+/=]+)', page)]
    shown = [
        i
        for i in range(n_frames(t))
        if i == 0 or step_boxes(t, i) or any(c['name'] == 'image_search' for c in t.steps[i]['calls'])
    ]
    assert pngs == [step_png(t, i) for i in shown]
    assert all(step_html(t, i) in page for i in range(n_frames(t)))
    doc = trajectories_html(trajs, 'x')
    assert doc.startswith('<!doctype html>') and doc.count('<table') == len(trajs)


def test_bad_step_index(trajs):
    with pytest.raises(IndexError, match='out of range'):
        step_png(trajs[0], 99)
    with pytest.raises(IndexError, match='out of range'):
        step_html(trajs[0], -1)
    with pytest.raises(ValueError, match='at least one'):
        TrajectoryViewer([])


def test_viewer_of_a_reloaded_trajectory(trajs):
    t = Trajectory.from_dict(trajs[1].to_row())
    v = TrajectoryViewer(t)
    v.slider.value = 1
    assert v.image.value == step_png(trajs[1], 1)
