"""The search service as an attacker meets it: hundreds of malformed or hostile requests across every endpoint, on
loopback, against `mmsearch serve` in its own process, whose memory (VmRSS, VmHWM of /proc/<pid>/status) is read
after each one. Nothing may answer 5xx, the server must stay up, and its resident memory must stay under 1 GB."""

import io, json, random, socket, time, zlib, struct
from pathlib import Path
import httpx, pytest
from PIL import Image
from mmsearch.core import png_bytes
from mmsearch.search import serve_process

RSS_LIMIT_KB = 2**20  # 1 GB
N_RANDOM = 480  # seeded random requests, on top of the hand-written ones


def _jpeg(img):
    buf = io.BytesIO()
    img.save(buf, format='JPEG')
    return buf.getvalue()


def _forged_png(w, h):
    "A PNG whose header claims w x h pixels, followed by a few bytes of (truncated) image data."

    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))

    return (
        b'\x89PNG\r\n\x1a\n'
        + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
        + chunk(b'IDAT', zlib.compress(b'\x00' * 64))
    )


def _status(pid):
    "VmRSS and VmHWM (peak) of process `pid`, in kB."
    f = dict(l.split(':', 1) for l in Path(f'/proc/{pid}/status').read_text().splitlines() if ':' in l)
    return int(f['VmRSS'].split()[0]), int(f['VmHWM'].split()[0])


@pytest.fixture(scope='module')
def server(world, tmp_path_factory):
    "`mmsearch serve` (one worker, so the server is this one process) on a free loopback port: (url, process)."
    with serve_process(world[0], cache_dir=tmp_path_factory.mktemp('cache'), timeout=120) as (url, proc):
        yield url, proc


# ------------------------------------------------------------------ the hostile inputs
NASTY_STRINGS = [
    '',
    ' ',
    '\x00',
    'a\x00b',
    '\ud800',
    'tower \udfff',
    'x' * 5000,
    '²',
    '-1',
    '1e309',
    'NaN',
    '0x10',
    '١٢',
    '\u202eevil',
    '%00',
    '../../etc/passwd',
    'images/../manifest.json',
    'images/scenes/S0000.png\x00.png',
    'https://wiki.example/images/../../manifest.json',
    'file:///etc/passwd',
    '[' * 2000,
    '{"a":' * 500,
]
NASTY_VALUES = NASTY_STRINGS + [
    None,
    True,
    False,
    0,
    -1,
    10**30,
    1.5,
    float('inf'),
    [],
    {},
    [1, 2, 3, 4],
    ['a'] * 3,
    {'$gt': ''},
    [[[[[]]]]],
    'false',
    '10',
]


def _json_bytes(obj):
    "`obj` as JSON text, lone surrogates and non-finite floats included (as a hostile client would send them)."
    return json.dumps(obj, ensure_ascii=True, allow_nan=True).encode()


def hand_written(root, w):
    "(description, request kwargs) of the hostile requests the issue measured, and their relatives."
    s0 = w.scenes[0]['image']
    tiny = png_bytes(Image.new('RGB', (8, 8), (200, 30, 30)))
    deep = b'{"a":' * 100_000
    out = [
        ('lone surrogate', dict(method='POST', url='/search', content=b'{"q": "tower \\ud800"}')),
        ('deep JSON', dict(method='POST', url='/search', content=deep)),
        ('deep JSON retrieve', dict(method='POST', url='/retrieve', content=b'{"queries": ' + b'[' * 100_000)),
        ('deep JSON lens', dict(method='POST', url='/lens', content=deep)),
        ('deep JSON reader', dict(method='POST', url='/', content=deep)),
        (
            'deep box in multipart',
            dict(
                method='POST', url='/lens', files={'image': ('x.png', tiny, 'image/png')}, data={'box': '[' * 100_000}
            ),
        ),
        ('NUL image path', dict(method='GET', url='/images/x.png%00')),
        ('NUL image id', dict(method='POST', url='/lens', json={'image_id': s0 + '\x00'})),
        (
            'multipart num ²',
            dict(method='POST', url='/lens', files={'image': ('x.png', tiny, 'image/png')}, data={'num': '²'}),
        ),
        (
            'return_scores string',
            dict(method='POST', url='/retrieve', json={'queries': ['a'], 'return_scores': 'false'}),
        ),
        ('utf-16 surrogate', dict(method='POST', url='/search', content='{"q": "\\ud800"}'.encode('utf-16'))),
        ('NaN num', dict(method='POST', url='/search', content=b'{"q": "x", "num": NaN}')),
        ('huge num', dict(method='POST', url='/search', content=b'{"q": "x", "num": 1' + b'0' * 5000 + b'}')),
        (
            'huge float box',
            dict(method='POST', url='/lens', content=b'{"image_id": "' + s0.encode() + b'", "box": [0, 0, 1e400, 5]}'),
        ),
        (
            'bad content-length',
            dict(method='POST', url='/search', content=b'{"q": "x"}', headers={'content-type': 'application/json'}),
        ),
        (
            'multipart bad boundary',
            dict(
                method='POST',
                url='/lens',
                content=b'--a\r\nContent-Disposition: form-data; name="image"; filename="x"\r\n\r\nabc',
                headers={'content-type': 'multipart/form-data; boundary=a'},
            ),
        ),
        (
            'multipart no boundary',
            dict(method='POST', url='/lens', content=b'x', headers={'content-type': 'multipart/form-data'}),
        ),
        (
            'multipart two files',
            dict(
                method='POST',
                url='/lens',
                files=[('image', ('a.png', tiny, 'image/png')), ('image', ('b.png', tiny, 'image/png'))],
            ),
        ),
        (
            'multipart many fields',
            dict(
                method='POST',
                url='/lens',
                files={'image': ('x.png', tiny, 'image/png')},
                data={f'f{i}': 'x' for i in range(40)},
            ),
        ),
        (
            'multipart image as text',
            dict(method='POST', url='/lens', files={'other': ('x', b'y', 'text/plain')}, data={'image': 'not a file'}),
        ),
        (
            'multipart num file',
            dict(method='POST', url='/lens', files=[('image', ('a.png', tiny, 'image/png'))], data={'units': '\x00'}),
        ),
        (
            'form reader',
            dict(
                method='POST',
                url='/',
                content=b'url=%ff%fe&url=x',
                headers={'content-type': 'application/x-www-form-urlencoded'},
            ),
        ),
        ('reader surrogate', dict(method='POST', url='/', content=b'{"url": "https://wiki.example/\\udc80"}')),
        ('reader NUL path', dict(method='GET', url='/https://wiki.example/%00')),
        ('reader bad utf8 path', dict(method='GET', url='/https://wiki.example/%ff%fe')),
        ('reader huge path', dict(method='GET', url='/https://wiki.example/' + 'a' * 6000)),
        ('visit NUL', dict(method='GET', url='/visit', params={'url': 'https://wiki.example/\x00'})),
        ('visit bad utf8', dict(method='GET', url='/visit?url=%ff%fe%ed%a0%80')),
        ('searxng pageno ²', dict(method='GET', url='/search', params={'q': 'x', 'format': 'json', 'pageno': '²'})),
        ('searxng bad utf8', dict(method='GET', url='/search?q=%ed%a0%80&format=json')),
        (
            'serpapi lens NUL',
            dict(
                method='GET',
                url='/search.json',
                params={'engine': 'google_lens', 'url': 'https://wiki.example/images/a\x00.png'},
            ),
        ),
        (
            'serpapi lens traversal',
            dict(
                method='GET',
                url='/search.json',
                params={'engine': 'google_lens', 'url': 'https://x/images/../../../etc/passwd'},
            ),
        ),
        ('serpapi num', dict(method='GET', url='/search.json', params={'engine': 'google', 'q': 'x', 'num': '-5'})),
        ('serper query-string num', dict(method='POST', url='/search?q=x&num=%C2%B2')),
        (
            'accept json 404',
            dict(method='GET', url='/visit', params={'url': 'nope'}, headers={'accept': 'application/json'}),
        ),
        ('health with body', dict(method='GET', url='/health', content=b'x' * 1000)),
        (
            'oversized JSON',
            dict(method='POST', url='/retrieve', content=b'{"queries": ["' + b'a' * (2**20 + 5) + b'"]}'),
        ),
        ('1025 queries', dict(method='POST', url='/retrieve', json={'queries': ['a'] * 1025})),
        ('topk huge', dict(method='POST', url='/retrieve', json={'queries': ['a'], 'topk': 10**12})),
        ('methods', dict(method='DELETE', url='/search')),
        ('options', dict(method='OPTIONS', url='/lens')),
        ('patch reader', dict(method='PATCH', url='/https://wiki.example/x')),
    ]
    images = [
        ('bomb 40000x500', png_bytes(Image.new('L', (40000, 500)))),
        ('bomb 60000x333', png_bytes(Image.new('L', (60000, 333)))),
        ('bomb 80000x250', png_bytes(Image.new('L', (80000, 250)))),
        ('forged 100000x100000', _forged_png(100_000, 100_000)),
        ('forged 4x5000000', _forged_png(4, 5_000_000)),
        ('forged 0x0', _forged_png(0, 0)),
        ('truncated', tiny[:40]),
        ('random bytes', random.Random(0).randbytes(3000)),
        ('GIF header only', b'GIF89a\xff\xff\xff\xff\x00\x00\x00'),
        ('JPEG header only', b'\xff\xd8\xff\xe0\x00\x10JFIF\x00'),
        ('strip at the side limit', png_bytes(Image.new('RGB', (12000, 2), (200, 30, 30)))),
        ('1x1', png_bytes(Image.new('RGB', (1, 1)))),
        ('20 Mpx at the limits', png_bytes(Image.new('RGB', (12000, 1666), (200, 30, 30)))),
        ('16 Mpx JPEG', _jpeg(Image.new('RGB', (4000, 4000), (30, 30, 200)))),
        ('RGBA 16-bit', png_bytes(Image.new('I;16', (300, 300)))),
    ]
    out += [
        (f'upload {name}', dict(method='POST', url='/lens', files={'image': ('x.png', data, 'image/png')}))
        for name, data in images
    ]
    return out


def random_requests(root, w, n, seed=0):
    "`n` seeded requests: each endpoint with one hostile value in one field."
    rng = random.Random(seed)
    s0, e0 = w.scenes[0]['image'], w.entities[0]

    def v():
        return rng.choice(NASTY_VALUES)

    def t():
        return rng.choice(NASTY_STRINGS)

    makers = [
        lambda: dict(method='POST', url='/search', content=_json_bytes({'q': v(), 'num': rng.choice([10, v()])})),
        lambda: dict(method='POST', url='/search', params={'q': t(), 'num': t()}),
        lambda: dict(
            method='GET', url='/search', params={'q': t(), 'format': rng.choice(['json', t()]), 'pageno': t()}
        ),
        lambda: dict(
            method='POST',
            url='/retrieve',
            content=_json_bytes(
                {
                    'queries': rng.choice([[v()], v(), [e0.name, v()]]),
                    'topk': rng.choice([3, v()]),
                    'return_scores': rng.choice([True, v()]),
                }
            ),
        ),
        lambda: dict(
            method='POST',
            url='/lens',
            content=_json_bytes(
                {
                    rng.choice(['image_id', 'image_url', 'url']): rng.choice([s0, v()]),
                    'box': rng.choice([[1, 2, 50, 60], v()]),
                    'units': rng.choice(['px', v()]),
                    'num': rng.choice([3, v()]),
                }
            ),
        ),
        lambda: dict(
            method='POST',
            url='/lens',
            files={'image': ('x.png', png_bytes(Image.new('RGB', (16, 16), (rng.randrange(256), 0, 0))), 'image/png')},
            data={'box': t(), 'units': t(), 'num': t()},
        ),
        lambda: dict(
            method='GET',
            url='/visit',
            params={'url': t()},
            headers={'accept': rng.choice(['application/json', 'text/plain', '*/*', 'application/json;q=0'])},
        ),
        lambda: dict(
            method='GET',
            url='/search.json',
            params={'engine': rng.choice(['google', 'google_lens', t()]), 'q': t(), 'url': t(), 'num': t()},
        ),
        lambda: dict(method='GET', url='/' + rng.choice(['https://wiki.example/', 'http:/', 'https:///', '']) + t()),
        lambda: dict(method='POST', url='/', content=_json_bytes({'url': v()})),
        lambda: dict(method='GET', url='/images/' + t()),
        lambda: dict(
            method=rng.choice(['GET', 'POST', 'PUT', 'HEAD']),
            url=rng.choice(['/health', '/search', '/lens', '/retrieve', '/visit', '/search.json']),
            content=rng.randbytes(rng.randrange(0, 300)),
        ),
    ]
    return [(f'random {i}', makers[i % len(makers)]()) for i in range(n)]


RAW = [
    b'\x00\x01GARBAGE NOT HTTP\r\n\r\n',
    b'GET / HTTP/9.9\r\n\r\n',
    b'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
    b'POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: \xc2\xb2\r\n\r\n{}',
    b'POST /search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
    b'POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    b'GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 70_000 + b'\r\n\r\n',
    b'GET /' + b'a' * 70_000 + b' HTTP/1.1\r\nHost: x\r\n\r\n',
    b'GET /health HTTP/1.1\r\nHo\x00st: x\r\n\r\n',
    b'GET /he\x00alth HTTP/1.1\r\nHost: x\r\n\r\n',
    b'GET /health HTTP/1.1\r\n' + b'X-A: b\r\n' * 2000 + b'\r\n',
    b'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' * 50,
]


def _raw(url, data):
    "Send raw bytes; the status of the first answer line, or None if the server just closed the connection."
    host, port = url.split('//')[1].split(':')
    with socket.create_connection((host, int(port)), timeout=10) as s:
        try:
            s.sendall(data)
            head = s.recv(64)
        except (ConnectionResetError, BrokenPipeError):
            return None
    return int(head.split()[1]) if head.startswith(b'HTTP/1.') else None


def test_fuzz_no_5xx_server_alive_memory_bounded(server, world):
    url, proc = server
    root, w = world
    cases = hand_written(root, w) + random_requests(root, w, N_RANDOM)
    statuses, unsendable, peak_rss, t0 = {}, [], 0, time.time()
    with httpx.Client(base_url=url, timeout=30) as http:
        for name, kw in cases:
            try:
                r = http.request(**kw)
            except (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeEncodeError):
                unsendable.append(name)
                continue  # httpx itself refuses to send it (a header or URL it cannot encode)
            statuses[name] = r.status_code
            assert r.status_code < 500, (name, r.status_code, r.text[:300])
            if r.status_code >= 400 and kw['method'] != 'HEAD':
                j = r.json()
                assert set(j) == {'error', 'status'} and len(j['error']) < 400, (name, j)
            assert proc.poll() is None, f'server died on {name}'
            assert http.get('/health').status_code == 200, name
            peak_rss = max(peak_rss, _status(proc.pid)[0])
            assert peak_rss < RSS_LIMIT_KB, (name, peak_rss)
    for data in RAW:
        status = _raw(url, data)
        assert status is None or status < 500, (data[:60], status)
        assert proc.poll() is None and httpx.get(url + '/health').status_code == 200, data[:60]
    assert proc.poll() is None and httpx.get(url + '/health').status_code == 200
    rss, hwm = _status(proc.pid)
    n = len(statuses) + len(RAW)
    print(
        f'\nfuzz: {n} requests in {time.time() - t0:.1f} s, statuses {sorted(set(statuses.values()))}, 5xx 0, '
        f'{len(unsendable)} unsendable by httpx, '
        f'server RSS max {peak_rss / 1024:.0f} MB, peak (VmHWM) {hwm / 1024:.0f} MB'
    )
    assert n >= 300 and hwm < RSS_LIMIT_KB
    assert all(statuses[f'upload bomb {s}'] == 413 for s in ('40000x500', '60000x333', '80000x250'))
    assert (
        statuses['upload strip at the side limit']
        == statuses['upload 20 Mpx at the limits']
        == statuses['upload 16 Mpx JPEG']
        == 200
        and statuses['upload forged 100000x100000'] == 413
    )
