"""SearchClient: every backend on recorded responses in its real format (no network), record/replay against the real
local service, retries with backoff, budgets and URL safety."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import httpx, pytest
from mmsearch.client import (
    SearchClient,
    SearchResult,
    SearchError,
    BudgetExceeded,
    CacheMiss,
    UnsafeURL,
    NotSupported,
    DiskCache,
    LocalBackend,
    SerperBackend,
    SerpApiBackend,
    SearxngBackend,
    JinaReaderBackend,
    CompositeBackend,
    check_url,
)

FIX = Path(__file__).parent / 'fixtures' / 'search'


def fixture(name):
    return json.loads((FIX / name).read_text())


def recorder(body, status=200, headers=None):
    "A MockTransport answering `body` and recording the requests it got."
    seen = []

    def handler(req):
        seen.append(req)
        return httpx.Response(status, json=body, headers=headers or {})

    return httpx.MockTransport(handler), seen


PUBLIC_DNS = lambda host, port: [(2, 1, 6, '', ('93.184.215.14', 0))]


# ------------------------------------------------------------------ real backends, recorded responses
def test_serper():
    t, seen = recorder(fixture('serper_search.json'))
    hits = SearchClient(SerperBackend(api_key='KEY'), transport=t).text_search('eiffel tower height', num=2)
    assert hits == [
        SearchResult(
            'Eiffel Tower - Wikipedia',
            'https://en.wikipedia.org/wiki/Eiffel_Tower',
            'The tower is 330 metres (1,083 ft) tall, about the same height as an 81-storey building.',
            None,
            1,
            None,
        ),
        SearchResult(
            'The Eiffel Tower in figures',
            'https://www.toureiffel.paris/en/the-monument/key-figures',
            'Height: 330 m. Weight: 10,100 tonnes.',
            None,
            2,
            None,
        ),
    ]
    r = seen[0]
    assert (r.method, str(r.url), r.headers['x-api-key']) == ('POST', 'https://google.serper.dev/search', 'KEY')
    assert json.loads(r.content) == {'q': 'eiffel tower height', 'num': 2, 'gl': 'us', 'hl': 'en'}


def test_serper_needs_a_key(monkeypatch):
    monkeypatch.delenv('SERPER_API_KEY', raising=False)
    t, seen = recorder({})
    with pytest.raises(SearchError, match=r'needs an API key.*\$SERPER_API_KEY'):
        SearchClient(SerperBackend(), transport=t).text_search('x')
    assert seen == []
    monkeypatch.setenv('SERPER_API_KEY', 'ENVKEY')
    t, seen = recorder(fixture('serper_search.json'))
    SearchClient(SerperBackend(), transport=t).text_search('x')
    assert seen[0].headers['x-api-key'] == 'ENVKEY'


def test_serpapi_google_and_lens():
    t, seen = recorder(fixture('serpapi_google.json'))
    hits = SearchClient(SerpApiBackend(api_key='K'), transport=t).text_search('eiffel tower height', num=5)
    assert (
        [h.position for h in hits] == [1, 2]
        and hits[0].link == 'https://en.wikipedia.org/wiki/Eiffel_Tower'
        and '330 metres' in hits[0].snippet
    )
    p = dict(seen[0].url.params)
    assert (
        seen[0].url.path == '/search.json'
        and p['engine'] == 'google'
        and p['q'] == 'eiffel tower height'
        and p['api_key'] == 'K'
        and p['num'] == '5'
    )
    t, seen = recorder(fixture('serpapi_google_lens.json'))
    vm = SearchClient(SerpApiBackend(api_key='K'), transport=t).image_search(
        image_id='https://i.imgur.com/HBrB8p0.png', num=1
    )
    assert (
        len(vm) == 1
        and vm[0].title == 'Danny DeVito - Wikipedia'
        and vm[0].thumbnail.startswith('https://encrypted-tbn2')
        and vm[0].snippet == 'Wikipedia'
    )
    p = dict(seen[0].url.params)
    assert p['engine'] == 'google_lens' and p['url'] == 'https://i.imgur.com/HBrB8p0.png'


def test_serpapi_lens_refuses_uploads_and_boxes():
    c = SearchClient(SerpApiBackend(api_key='K'), transport=recorder({})[0])
    with pytest.raises(NotSupported, match='public image URL'):
        c.image_search(image=b'\x89PNG...')
    with pytest.raises(NotSupported, match='public image URL'):
        c.image_search(image_id='images/scenes/S0001.png')
    with pytest.raises(NotSupported, match='cannot crop'):
        c.image_search(image_id='https://x.example/a.png', box=[0, 0, 5, 5])


def test_serpapi_errors_and_empty():
    with pytest.raises(SearchError, match='Invalid API key'):
        SearchClient(
            SerpApiBackend(api_key='bad'), transport=recorder(fixture('serpapi_error.json'), status=401)[0]
        ).text_search('x')
    with pytest.raises(SearchError, match='Invalid API key'):  # SerpAPI also reports errors inside a 200
        SearchClient(SerpApiBackend(api_key='bad'), transport=recorder(fixture('serpapi_error.json'))[0]).text_search(
            'x'
        )
    assert (
        SearchClient(SerpApiBackend(api_key='K'), transport=recorder(fixture('serpapi_empty.json'))[0]).text_search(
            'xqzvvkkq plorbnax'
        )
        == []
    )


def test_searxng():
    t, seen = recorder(fixture('searxng_search.json'))
    hits = SearchClient(SearxngBackend('http://searx.example:8080/'), transport=t).text_search(
        'eiffel tower height', num=2
    )
    assert [h.link for h in hits] == [
        'https://en.wikipedia.org/wiki/Eiffel_Tower',
        'https://www.toureiffel.paris/en/the-monument/key-figures',
    ]
    assert (
        hits[1].thumbnail == 'https://imgs.search.brave.com/abc.jpg'
        and hits[0].score == 3.0
        and hits[0].snippet.startswith('The tower is 330')
    )
    assert (
        str(seen[0].url).startswith('http://searx.example:8080/search?')
        and dict(seen[0].url.params)['format'] == 'json'
    )
    with pytest.raises(SearchError, match='HTTP 403'):  # json output not enabled in settings.yml
        SearchClient(
            SearxngBackend('http://searx.example'),
            transport=httpx.MockTransport(lambda r: httpx.Response(403, text='Forbidden')),
        ).text_search('x')
    with pytest.raises(NotSupported):
        SearchClient(SearxngBackend('http://searx.example')).image_search(image_id='https://x/y.png')


def test_searxng_needs_a_url(monkeypatch):
    monkeypatch.delenv('SEARXNG_URL', raising=False)
    with pytest.raises(SearchError, match='SEARXNG_URL'):
        SearxngBackend()


def test_jina_reader_and_search():
    t, seen = recorder(fixture('jina_reader.json'))
    page = SearchClient(JinaReaderBackend(), transport=t, resolve=PUBLIC_DNS).visit('https://example.com/')
    assert page.startswith(
        'Title: Example Domain\n\nURL Source: https://example.com/\n\nMarkdown Content:\nThis domain is for use'
    )
    assert (
        str(seen[0].url) == 'https://r.jina.ai/https://example.com/' and seen[0].headers['accept'] == 'application/json'
    )
    assert 'authorization' not in seen[0].headers  # the reader works without a key
    t, seen = recorder(fixture('jina_search.json'))
    hits = SearchClient(JinaReaderBackend(api_key='J'), transport=t).text_search('eiffel tower', num=5)
    assert [h.position for h in hits] == [1, 2] and hits[0].snippet.startswith('The Eiffel Tower is a wrought-iron')
    assert seen[0].headers['authorization'] == 'Bearer J'


def test_composite_backend():
    bodies = {
        'google.serper.dev': fixture('serper_search.json'),
        'serpapi.com': fixture('serpapi_google_lens.json'),
        'r.jina.ai': fixture('jina_reader.json'),
    }
    t = httpx.MockTransport(lambda req: httpx.Response(200, json=bodies[req.url.host]))
    c = SearchClient(
        CompositeBackend(
            text=SerperBackend(api_key='a'), image=SerpApiBackend(api_key='b'), reader=JinaReaderBackend()
        ),
        transport=t,
        resolve=PUBLIC_DNS,
    )
    assert c.text_search('q')[0].position == 1
    assert c.image_search(image_id='https://img.example/q.jpg')[0].title == 'Danny DeVito - Wikipedia'
    assert 'Example Domain' in c.visit('https://example.com/')
    with pytest.raises(UnsafeURL):
        c.visit('http://127.0.0.1/admin')
    with pytest.raises(NotSupported):
        SearchClient(CompositeBackend(text=SerperBackend(api_key='a')), resolve=PUBLIC_DNS).visit(
            'https://example.com/'
        )


# ------------------------------------------------------------------ retries
def test_retries_with_exponential_backoff():
    calls = []

    def flaky(req):
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError('refused', request=req)
        if len(calls) == 2:
            return httpx.Response(503, json={'error': 'overloaded'})
        return httpx.Response(200, json=fixture('serper_search.json'))

    waits = []
    c = SearchClient(SerperBackend(api_key='k'), transport=httpx.MockTransport(flaky), sleep=waits.append, backoff=0.25)
    assert c.text_search('q')[0].position == 1
    assert len(calls) == 3 and waits == [0.25, 0.5] and c.stats['retries'] == 2 and c.stats['requests'] == 3


def test_retry_after_on_429_and_giving_up():
    waits = []
    t = httpx.MockTransport(
        lambda r: httpx.Response(429, json={'message': 'rate limited'}, headers={'Retry-After': '2'})
    )
    c = SearchClient(SerperBackend(api_key='k'), transport=t, sleep=waits.append, retries=2)
    with pytest.raises(SearchError, match=r'failed after 3 attempts.*HTTP 429: rate limited'):
        c.text_search('q')
    assert waits == [2.0, 2.0]
    c = SearchClient(
        SerperBackend(api_key='k'),
        transport=httpx.MockTransport(lambda r: (_ for _ in ()).throw(httpx.ReadTimeout('slow', request=r))),
        sleep=lambda s: None,
        retries=1,
    )
    with pytest.raises(SearchError, match='ReadTimeout'):
        c.text_search('q')


def test_client_errors_are_not_retried():
    calls = []

    def bad(req):
        calls.append(1)
        return httpx.Response(400, json={'message': 'Invalid query'})

    c = SearchClient(SerperBackend(api_key='k'), transport=httpx.MockTransport(bad), sleep=lambda s: None)
    with pytest.raises(SearchError, match='HTTP 400.*Invalid query'):
        c.text_search('q')
    assert len(calls) == 1


# ------------------------------------------------------------------ budget
def test_budget_per_episode():
    c = SearchClient(SerperBackend(api_key='k'), transport=recorder(fixture('serper_search.json'))[0], budget=2)
    c.text_search('a')
    c.text_search('b')
    with pytest.raises(BudgetExceeded, match=r'budget of 2 calls for this episode is spent \(text_search'):
        c.text_search('c')
    assert c.remaining == 0
    c.new_episode()
    assert c.remaining == 2
    c.text_search('c')
    c.new_episode(budget=None)
    [c.text_search('d') for _ in range(5)]
    assert c.remaining is None


def test_budget_holds_under_concurrency():
    c = SearchClient(SerperBackend(api_key='k'), transport=recorder(fixture('serper_search.json'))[0], budget=10)

    def one(i):
        try:
            c.text_search(f'q{i}')
            return 'ok'
        except BudgetExceeded:
            return 'refused'

    with ThreadPoolExecutor(8) as ex:
        outs = list(ex.map(one, range(40)))
    assert outs.count('ok') == 10 and outs.count('refused') == 30


# ------------------------------------------------------------------ URL safety
@pytest.mark.parametrize(
    'url,why',
    [
        ('file:///etc/passwd', 'only http and https'),
        ('gopher://example.com/', 'only http'),
        ('javascript:alert(1)', 'only http'),
        ('http://127.0.0.1/', 'loopback'),
        ('http://127.5.5.5:8080/x', 'loopback'),
        ('http://[::1]:8000/', 'loopback'),
        ('http://[::ffff:127.0.0.1]/', 'loopback'),
        ('http://localhost/', 'local name'),
        ('http://foo.localhost/', 'local name'),
        ('http://printer.local/', 'local name'),
        ('http://169.254.169.254/latest/meta-data/', 'link-local'),
        ('http://[fe80::1]/', 'link-local'),
        ('http://10.0.0.1/', 'private'),
        ('http://172.16.3.4/', 'private'),
        ('http://192.168.0.10/', 'private'),
        ('http://[fd00::1]/', 'private'),
        ('http://0.0.0.0/', 'unspecified'),
        ('http://224.0.0.1/', 'multicast'),
        ('http:///nohost', 'no host'),
        ('', 'non-empty'),
    ],
)
def test_unsafe_urls_are_refused(url, why):
    with pytest.raises(UnsafeURL, match=why):
        check_url(url, PUBLIC_DNS)


def test_dns_rebinding_to_private_is_refused_and_nothing_is_fetched():
    t, seen = recorder(fixture('jina_reader.json'))
    c = SearchClient(JinaReaderBackend(), transport=t, resolve=lambda h, p: [(2, 1, 6, '', ('10.9.8.7', 0))])
    with pytest.raises(UnsafeURL, match='private'):
        c.visit('https://innocent.example/')
    c = SearchClient(JinaReaderBackend(), transport=t, resolve=lambda h, p: (_ for _ in ()).throw(OSError('NXDOMAIN')))
    with pytest.raises(UnsafeURL, match='cannot resolve'):
        c.visit('https://nonexistent.example/')
    assert seen == []
    assert check_url('https://example.com/path?q=1', PUBLIC_DNS) == 'https://example.com/path?q=1'


# ------------------------------------------------------------------ the local service: real HTTP, record and replay
@pytest.fixture(scope='module')
def local(tmp_path_factory):
    from mmsearch.world import World
    from mmsearch.pipeline import build_world
    from mmsearch.search import SearchEngine, serve

    root = build_world(tmp_path_factory.mktemp('w') / 'w', seed=0, size='smoke', progress=False)
    with serve(SearchEngine.build(root)) as url:
        yield url, World.load(root)


def test_local_backend_end_to_end(local):
    url, w = local
    c = SearchClient(LocalBackend(url))
    e = w.entities[4]
    hits = c.text_search(e.name, num=3)
    assert hits[0].link == e.url and hits[0].score > 0 and [h.position for h in hits] == [1, 2, 3]
    s = w.scenes[1]
    o = next(o for o in s['objects'] if o['entity_id'])
    for vm in (
        c.image_search(image_id=s['image'], box=o['box']),
        c.image_search(w.image(s['image']).crop(o['box'])),
        c.image_search(w.image(s['image']), box=o['box'], num=2),
    ):
        assert vm[0].link == w[o['entity_id']].url and vm[0].thumbnail.startswith(
            'https://wiki.example/images/canonical/'
        )
    assert c.visit(e.url).startswith(f'Title: {e.name}')  # wiki.example does not resolve: local pages skip the check
    with pytest.raises(SearchError, match='HTTP 404'):
        c.visit('https://wiki.example/Nobody_Here')
    with pytest.raises(SearchError, match='HTTP 422.*inverted'):
        c.image_search(image_id=s['image'], box=[10, 10, 5, 5])
    with pytest.raises(SearchError, match='exactly one of'):
        c.image_search(w.image(s['image']), image_id=s['image'])
    with pytest.raises(TypeError, match='PIL image or bytes'):
        c.image_search(image='not an image')
    with pytest.raises(SearchError, match='non-empty query'):
        c.text_search('  ')


def test_record_then_replay_offline(local, tmp_path):
    url, w = local
    e = w.entities[6]
    s = w.scenes[2]
    o = next(o for o in s['objects'] if o['entity_id'])
    rec = SearchClient(LocalBackend(url), cache=tmp_path / 'c')
    crop = w.image(s['image']).crop(o['box'])
    calls = lambda c: [
        c.text_search(e.name),
        c.image_search(crop),
        c.image_search(image_id=s['image'], box=o['box']),
        c.visit(e.url),
    ]
    live = calls(rec)
    assert rec.stats['requests'] == 4 and len(DiskCache(tmp_path / 'c')) == 4
    again = calls(rec)
    assert again == live and rec.stats['requests'] == 4 and rec.stats['cache_hits'] == 4
    # replay on another port with nothing listening: same answers, no requests
    rep = SearchClient(LocalBackend('http://127.0.0.1:9'), cache=DiskCache(tmp_path / 'c', 'replay'))
    assert calls(rep) == live
    assert rep.stats['requests'] == 0
    with pytest.raises(CacheMiss, match='has no answer for text_search'):
        rep.text_search(e.name, num=4)  # other arguments, other key
    with pytest.raises(CacheMiss):
        rep.image_search(crop.rotate(90))
    # cached calls are charged to the budget like live ones
    rep.budget = 1
    rep.new_episode()
    rep.visit(e.url)
    with pytest.raises(BudgetExceeded):
        rep.visit(e.url)


def test_cache_modes_and_damage(tmp_path, local):
    url, w = local
    with pytest.raises(ValueError, match="cache mode must be"):
        DiskCache(tmp_path, 'sometimes')
    with pytest.raises(FileNotFoundError, match='record one first'):
        DiskCache(tmp_path / 'missing', 'replay')
    rec = SearchClient(LocalBackend(url), cache=tmp_path / 'c')
    rec.text_search(w.entities[0].name)
    f = next((tmp_path / 'c').glob('*/*.json'))
    f.write_text('{broken')
    rep = SearchClient(LocalBackend(url), cache=DiskCache(tmp_path / 'c', 'replay'))
    with pytest.raises(CacheMiss):
        rep.text_search(w.entities[0].name)
    rec.text_search(w.entities[0].name)  # record mode repairs it
    assert rep.text_search(w.entities[0].name)[0].link == w.entities[0].url
    off = SearchClient(LocalBackend(url), cache=DiskCache(tmp_path / 'off', 'off'))
    off.text_search('x')
    assert not (tmp_path / 'off').exists()
