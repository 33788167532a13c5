"The search service over real HTTP on loopback: every endpoint's shape, every error path, and that it keeps serving."

import io, json, os
import httpx, pytest
from PIL import Image
from mmsearch.core import png_bytes
from mmsearch.world import describe_look
from mmsearch.search import SearchEngine, serve, MAX_UPLOAD, IMAGE_BASE


@pytest.fixture(scope='module')
def engine(world, tmp_path_factory):
    return SearchEngine.build(world[0], cache_dir=tmp_path_factory.mktemp('cache'))


@pytest.fixture(scope='module')
def url(engine):
    with serve(engine) as u:
        yield u


@pytest.fixture(scope='module')
def http(url):
    with httpx.Client(base_url=url, timeout=30) as c:
        yield c


def _scene_object(w):
    s = w.scenes[0]
    return s, next(o for o in s['objects'] if o['entity_id'])


def test_health(http, engine):
    j = http.get('/health').json()
    assert j['status'] == 'ok' and j['pages'] == len(engine.pages) and j['images'] == len(engine.images.keys)


def test_search_serper_shape(http, world):
    _, w = world
    e = w.entities[7]
    r = http.post('/search', json={'q': e.name, 'num': 4})
    assert r.status_code == 200 and r.headers['content-type'].startswith('application/json')
    org = r.json()['organic']
    assert 1 <= len(org) <= 4 and [h['position'] for h in org] == list(range(1, len(org) + 1))
    assert all(set(h) >= {'title', 'link', 'snippet', 'position'} for h in org)
    assert org[0]['link'] == e.url and e.name in org[0]['snippet']
    assert len(http.post('/search', json={'q': e.name}).json()['organic']) <= 10  # num defaults to 10


def test_search_by_appearance(http, world):
    _, w = world
    found = sum(
        e.url
        in [h['link'] for h in http.post('/search', json={'q': describe_look(e.look), 'num': 5}).json()['organic']]
        for e in w.entities
    )
    assert found / len(w.entities) > 0.8


def test_retrieve_search_r1_shape(http, world):
    _, w = world
    e = w.entities[2]
    j = http.post('/retrieve', json={'queries': [e.name, 'zzqx nothing'], 'topk': 3, 'return_scores': True}).json()
    assert len(j['result']) == 2 and j['result'][1] == []
    top = j['result'][0][0]
    assert (
        top['document']['id'] == e.url and top['document']['contents'].startswith(f'"{e.name}"\n') and top['score'] > 0
    )
    j = http.post('/retrieve', json={'queries': [e.name], 'topk': 2, 'return_scores': False}).json()
    assert set(j['result'][0][0]) == {'id', 'contents'}
    head = w.entities[0]  # a head entity: many pages name it
    j = http.post('/retrieve', json={'queries': [head.name], 'topk': None}).json()  # Search-R1's QueryRequest defaults
    assert (
        len(j['result'][0]) == 3
        and set(j['result'][0][0]) == {'id', 'contents'}
        and j['result'][0][0]['id'] == head.url
    )


def test_lens_upload_id_and_link(http, world):
    root, w = world
    s, o = _scene_object(w)
    target = w[o['entity_id']].url
    crop = w.image(s['image']).crop(tuple(o['box']))
    r = http.post('/lens', files={'image': ('crop.png', png_bytes(crop), 'image/png')})
    vm = r.json()['visual_matches']
    assert r.status_code == 200 and vm[0]['link'] == target
    assert all(set(m) >= {'title', 'link', 'thumbnail', 'position'} for m in vm) and vm[0]['thumbnail'].startswith(
        IMAGE_BASE + 'images/canonical/'
    )
    # JSON: image id (world path) with a pixel box, image link with a 0-1000 box, upload with a form box
    assert (
        http.post('/lens', json={'image_id': s['image'], 'box': o['box'], 'num': 3}).json()['visual_matches'][0]['link']
        == target
    )
    nb = [v * 1000 / s['width'] for v in o['box']]
    assert (
        http.post('/lens', json={'image_url': IMAGE_BASE + s['image'], 'box': nb, 'units': 'norm1000'}).json()[
            'visual_matches'
        ][0]['link']
        == target
    )
    r = http.post(
        '/lens',
        files={'image': ('s.png', png_bytes(w.image(s['image'])), 'image/png')},
        data={'box': json.dumps(o['box']), 'num': '2'},
    )
    assert r.json()['visual_matches'][0]['link'] == target and len(r.json()['visual_matches']) == 2
    # the thumbnail link of a hit is itself a valid image id, and the image is served
    thumb = vm[0]['thumbnail']
    assert http.post('/lens', json={'image_url': thumb}).json()['visual_matches'][0]['link'] == target
    img = http.get('/' + thumb[len(IMAGE_BASE) :])
    assert (
        img.status_code == 200
        and img.headers['content-type'] == 'image/png'
        and Image.open(io.BytesIO(img.content)).size == (128, 128)
    )


def test_visit_markdown_and_json(http, world):
    _, w = world
    e = w.entities[3]
    r = http.get('/visit', params={'url': e.url})
    assert r.status_code == 200 and r.headers['content-type'].startswith('text/markdown')
    assert (
        r.text.startswith(f'Title: {e.name}\n\nURL Source: {e.url}\n\nMarkdown Content:\n')
        and describe_look(e.look) in r.text
    )
    j = http.get('/visit', params={'url': e.url}, headers={'Accept': 'application/json'}).json()
    assert (
        j['code'] == 200
        and j['data']['url'] == e.url
        and j['data']['title'] == e.name
        and describe_look(e.look) in j['data']['content']
    )


@pytest.mark.parametrize(
    'method,path,kw,status,msg',
    [
        ('POST', '/search', dict(content=b'{"q": '), 400, 'malformed JSON'),
        ('POST', '/search', dict(content=b'[1, 2]'), 400, 'must be an object'),
        ('POST', '/search', dict(content=b'\xff\xfe'), 400, 'malformed JSON'),
        ('POST', '/search', dict(json={'num': 3}), 422, "missing field 'q'"),
        ('POST', '/search', dict(json={'q': ''}), 422, 'non-empty string'),
        ('POST', '/search', dict(json={'q': 'x', 'num': 'ten'}), 422, 'integer in 1..100'),
        ('POST', '/search', dict(json={'q': 'x', 'num': 10**9}), 422, 'integer in 1..100'),
        ('POST', '/search', dict(json={'q': ['a']}), 422, 'non-empty string'),
        ('POST', '/retrieve', dict(json={'topk': 3}), 422, "missing field 'queries'"),
        ('POST', '/retrieve', dict(json={'queries': [1, 2]}), 422, 'list of strings'),
        ('POST', '/retrieve', dict(json={'queries': ['a'] * 1025}), 422, 'at most 1024'),
        ('POST', '/retrieve', dict(json={'queries': ['a'], 'return_scores': 'false'}), 422, 'JSON boolean'),
        ('POST', '/retrieve', dict(json={'queries': ['a'], 'topk': '3'}), 422, 'integer in 1..100'),
        ('POST', '/retrieve', dict(json={'queries': ['a'], 'topk': True}), 422, 'integer in 1..100'),
        ('POST', '/search', dict(content=b'{"q": "tower \\ud800"}'), 400, 'lone surrogate'),
        ('POST', '/search', dict(content=b'{"q": ' + b'[' * 100_000), 400, 'nested too deeply'),
        ('POST', '/lens', dict(json={'image_id': 'images/scenes/S0000.png\x00'}), 404, 'NUL byte'),
        (
            'POST',
            '/lens',
            dict(files={'image': ('x.png', png_bytes(Image.new('RGB', (8, 8))), 'image/png')}, data={'num': '\u00b2'}),
            422,
            'integer in 1..100',
        ),
        (
            'POST',
            '/lens',
            dict(
                files={'image': ('x.png', png_bytes(Image.new('RGB', (8, 8))), 'image/png')},
                data={'box': '[' * 100_000},
            ),
            422,
            'four numbers',
        ),
        ('GET', '/images/canonical/x.png%00', dict(), 404, 'NUL byte'),
        ('GET', '/search', dict(params={'q': 'x'}), 400, 'format=json'),
        ('GET', '/search.json', dict(params={'engine': 'bing', 'q': 'x'}), 400, 'not served here'),
        ('GET', '/search.json', dict(params={'engine': 'google_lens'}), 422, "parameter 'url'"),
        ('GET', '/https://wiki.example/No_Such_Page', dict(), 404, 'no page at'),
        ('POST', '/', dict(json={'uri': 'x'}), 422, "field 'url' is required"),
        ('POST', '/lens', dict(json={}), 422, 'give an image'),
        ('POST', '/lens', dict(json={'image_id': 'images/scenes/S9999.png'}), 404, 'unknown image'),
        ('POST', '/lens', dict(json={'image_id': 'images/../manifest.json'}), 404, 'unknown image'),
        ('POST', '/lens', dict(json={'image_id': '/etc/passwd'}), 404, 'unknown image'),
        ('POST', '/lens', dict(json={'image_id': 'images/scenes/S0000.png', 'box': [50, 50, 10, 10]}), 422, 'inverted'),
        ('POST', '/lens', dict(json={'image_id': 'images/scenes/S0000.png', 'box': [1, 2, 3]}), 422, 'four numbers'),
        (
            'POST',
            '/lens',
            dict(json={'image_id': 'images/scenes/S0000.png', 'box': [900, 900, 990, 990]}),
            422,
            'outside',
        ),
        (
            'POST',
            '/lens',
            dict(json={'image_id': 'images/scenes/S0000.png', 'box': [0, 0, 1, 1], 'units': 'inches'}),
            422,
            'units must be',
        ),
        (
            'POST',
            '/lens',
            dict(files={'image': ('x.png', b'this is not a png', 'image/png')}),
            415,
            'not a decodable image',
        ),
        ('POST', '/lens', dict(files={'other': ('x.png', b'abc', 'image/png')}), 422, "file field 'image'"),
        ('POST', '/lens', dict(files={'image': ('x.png', b'', 'image/png')}), 422, 'empty'),
        (
            'POST',
            '/lens',
            dict(content=b'--xx\r\nbroken', headers={'content-type': 'multipart/form-data; boundary=xx'}),
            422,
            "file field 'image'",
        ),
        ('GET', '/visit', dict(params={'url': 'https://wiki.example/No_Such_Page'}), 404, 'no page at'),
        ('GET', '/visit', dict(), 422, "'url' is required"),
        (
            'POST',
            '/',
            dict(
                content='&'.join(f'f{i}=x' for i in range(40)),
                headers={'content-type': 'application/x-www-form-urlencoded'},
            ),
            413,
            'at most 32 fields',
        ),
        ('GET', '/images/../manifest.json', dict(), 404, ''),
        ('GET', '/search', dict(), 400, 'format=json'),
        ('PUT', '/search', dict(), 405, ''),
        ('GET', '/nope', dict(), 404, ''),
    ],
)
def test_errors_are_clear_4xx_json(http, method, path, kw, status, msg):
    r = http.request(method, path, **kw)
    assert r.status_code == status, (r.status_code, r.text)
    j = r.json()
    assert j['status'] == status and msg in j['error'], j
    assert http.get('/health').status_code == 200  # and the server keeps serving


def test_oversized_uploads_get_413(http, world):
    big = os.urandom(MAX_UPLOAD + 1000)
    r = http.post('/lens', files={'image': ('big.png', big, 'image/png')})
    assert r.status_code == 413 and 'exceeds the limit' in r.json()['error']
    r = http.post(
        '/search', content=b'{"q": "' + b'a' * (2**20 + 10) + b'"}', headers={'content-type': 'application/json'}
    )
    assert r.status_code == 413
    bomb = Image.new('L', (6000, 6000))  # 36 Mpx but a tiny PNG: refused by the pixel cap
    r = http.post('/lens', files={'image': ('bomb.png', png_bytes(bomb), 'image/png')})
    assert r.status_code == 413 and 'pixels' in r.json()['error']
    _, w = world
    assert http.post('/search', json={'q': w.entities[0].name}).status_code == 200


def test_blank_image_gives_no_matches(http):
    r = http.post(
        '/lens', files={'image': ('blank.png', png_bytes(Image.new('RGB', (64, 64), (240, 240, 240))), 'image/png')}
    )
    assert r.status_code == 200 and r.json()['visual_matches'] == []


def test_raw_garbage_on_the_socket(url, http):
    import socket

    host, port = url.split('//')[1].split(':')
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b'\x00\x01GARBAGE NOT HTTP\r\n\r\n')
        try:
            s.recv(1024)
        except OSError:
            pass
    assert http.get('/health').status_code == 200


def test_cli_serves_with_two_workers(world, tmp_path):
    root, w = world
    e = w.entities[1]
    with serve(root, workers=2, cache_dir=tmp_path / 'cache', timeout=180) as u:
        with httpx.Client(base_url=u, timeout=30) as c:
            assert c.get('/health').json()['status'] == 'ok'
            assert c.post('/search', json={'q': e.name, 'num': 3}).json()['organic'][0]['link'] == e.url
            assert c.post('/lens', content=b'nope').status_code == 400
    assert (tmp_path / 'cache').is_dir() and any((tmp_path / 'cache').iterdir())


def test_500_says_only_internal_error():
    "A handler that crashes answers 500 with no exception text, type or address in the body."
    from mmsearch.search import make_app, serve_app

    class Broken:
        pages, root = [], None

        def search(self, q, num):
            raise RuntimeError(f'secret detail at {hex(id(self))} /etc/shadow')

    with serve_app(make_app(Broken())) as u:
        r = httpx.post(u + '/search', json={'q': 'x'})
        assert r.status_code == 500 and r.json() == {'error': 'internal error (logged by the server)', 'status': 500}
        assert 'secret' not in r.text and 'RuntimeError' not in r.text


def test_slow_and_idle_clients_are_cut_off(engine):
    """Half-open connections on loopback (silent, half a header, half a body) are closed at the deadlines; the server
    keeps serving."""
    import socket, time

    with serve(engine, header_timeout=1.0, body_timeout=1.0) as u:
        host, port = u.split('//')[1].split(':')
        conns = [socket.create_connection((host, int(port)), timeout=10) for _ in range(30)]
        for i, s in enumerate(conns):
            if i % 3 == 1:
                s.sendall(b'GET /health HTTP/1.1\r\nHost: x\r\n')
            if i % 3 == 2:
                s.sendall(b'POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"q"')
        t0 = time.time()
        answers = []
        for s in conns:
            s.settimeout(max(0.1, 6 - (time.time() - t0)))
            data = b''
            try:
                while chunk := s.recv(4096):
                    data += chunk
            except ConnectionResetError:
                pass
            answers.append(data)  # recv returned b'': the server closed it
            s.close()
        assert time.time() - t0 < 4  # all 30 closed within the deadlines, none held
        assert all(a == b'' for a in answers[0::3] + answers[1::3])
        assert all(b' 408 ' in a.split(b'\r\n')[0] for a in answers[2::3])
        assert httpx.get(u + '/health').status_code == 200
