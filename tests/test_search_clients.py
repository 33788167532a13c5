"""Each existing client the notebooks claim, replayed against our service on loopback: the request as that client
sends it, and the answer parsed the way that client parses it (requests and parsers written here from each client's
documented format; facts from their official code, cited per test)."""

import httpx, pytest
from mmsearch.search import SearchEngine, serve, IMAGE_BASE
from mmsearch.client import SearchClient, SerperBackend, SerpApiBackend, SearxngBackend, JinaReaderBackend


@pytest.fixture(scope='module')
def url(world):
    with serve(SearchEngine.build(world[0])) as u:
        yield u


@pytest.fixture(scope='module')
def head(world):
    return world[1].entities[0]  # a head entity: many pages name it


# ---- Search-R1 (https://github.com/PeterGriffinJin/Search-R1)
def _passages2string(retrieval_result):
    "Search-R1 llm_agent/generation.py: each hit's document contents split into a title line and text."
    out = ''
    for idx, doc_item in enumerate(retrieval_result):
        content = doc_item['document']['contents']
        out += f"Doc {idx + 1}(Title: {content.split(chr(10))[0]}) {chr(10).join(content.split(chr(10))[1:])}\n"
    return out


def test_search_r1_generation_batch_search(url, head):
    "generation.py `_batch_search`: POST {queries, topk, return_scores: True}, then `.json()['result']`."
    r = httpx.post(url + '/retrieve', json={'queries': [head.name, 'zzqx nothing'], 'topk': 3, 'return_scores': True})
    refs = [_passages2string(x) for x in r.json()['result']]
    assert refs[0].startswith(f'Doc 1(Title: "{head.name}") ') and refs[0].count('Doc ') == 3 and refs[1] == ''


def test_search_r1_retrieval_request_400_queries(url):
    "search/retrieval_request.py: 400 queries, topk 5, return_scores True; raise_for_status, then .json()."
    payload = {
        'queries': ['What is the capital of France?', 'Explain neural networks.'] * 200,
        'topk': 5,
        'return_scores': True,
    }
    r = httpx.post(url + '/retrieve', json=payload, timeout=60)
    r.raise_for_status()
    res = r.json()['result']
    assert len(res) == 400 and all(isinstance(x, list) and len(x) <= 5 for x in res)
    assert all(set(h) == {'document', 'score'} and set(h['document']) == {'id', 'contents'} for x in res for h in x)


def test_search_r1_query_request_defaults(url, head):
    """retrieval_server.py QueryRequest: topk Optional (None -> config topk, 3 by default), return_scores False ->
    documents themselves."""
    for body in (
        {'queries': [head.name]},
        {'queries': [head.name], 'topk': None},
        {'queries': [head.name], 'topk': None, 'return_scores': False},
    ):
        res = httpx.post(url + '/retrieve', json=body).json()['result']
        assert len(res[0]) == 3 and all(set(d) == {'id', 'contents'} for d in res[0]), body
        assert res[0][0]['id'] == head.url and res[0][0]['contents'].startswith(f'"{head.name}"\n')


# ---- Serper (https://serper.dev): a JSON body, and LangChain's GoogleSerperAPIWrapper
def test_serper_json_body(url, head):
    "Serper's documented request: POST /search, X-API-KEY and {q, num, gl, hl}; SerperBackend, only base_url set."
    hits = SearchClient(SerperBackend(api_key='any', base_url=url)).text_search(head.name, num=4)
    assert hits[0].link == head.url and 1 <= len(hits) <= 4


def test_langchain_google_serper_wrapper(url, head):
    "langchain_community GoogleSerperAPIWrapper: POST, q, gl, hl, num in the query string, no body; reads ['organic']."
    r = httpx.post(
        url + '/search',
        headers={'X-API-KEY': 'any', 'Content-Type': 'application/json'},
        params={'q': head.name, 'gl': 'us', 'hl': 'en', 'num': 10},
    )
    r.raise_for_status()
    results = r.json()
    snippets = [x['snippet'] for x in results['organic'][:10] if 'snippet' in x]  # _parse_snippets
    assert results.get('answerBox') is None and results.get('knowledgeGraph') is None
    assert snippets and head.name in snippets[0] and results['organic'][0]['link'] == head.url


# ---- Jina Reader (https://github.com/jina-ai/reader)
def test_jina_reader_get_and_post(url, head):
    "GET {base}/{url} (markdown, or JSON with Accept: application/json) and POST / {url}."
    text = httpx.get(f'{url}/{head.url}').text
    assert text.startswith(f'Title: {head.name}\n\nURL Source: {head.url}\n\nMarkdown Content:\n')
    j = httpx.get(f'{url}/{head.url}', headers={'Accept': 'application/json'}).json()
    assert (
        j['code'] == 200 and j['data']['url'] == head.url and j['data']['title'] == head.name and j['data']['content']
    )
    assert httpx.post(url + '/', json={'url': head.url}).text == text
    assert (
        httpx.post(url + '/', json={'url': head.url}, headers={'Accept': 'application/json'}).json()['data']
        == j['data']
    )
    assert httpx.post(url + '/', data={'url': head.url}).text == text  # a form body too


def test_our_jina_backend_pointed_at_our_service(url, head):
    page = SearchClient(JinaReaderBackend(reader_url=url, local=True)).visit(head.url)
    assert page.startswith(f'Title: {head.name}\n\nURL Source: {head.url}\n\nMarkdown Content:\n')


# ---- SerpAPI (https://serpapi.com/google-lens-api, https://serpapi.com/search-api)
def test_serpapi_google_lens_get(url, world):
    "GET /search.json?engine=google_lens&url=...&api_key=...; reads search_metadata.status and visual_matches."
    root, w = world
    e = w.entities[5]
    thumb = IMAGE_BASE + next(p['image'] for p in w.pages if p['url'] == e.url)
    j = httpx.get(url + '/search.json', params={'engine': 'google_lens', 'url': thumb, 'api_key': 'any'}).json()
    assert j['search_metadata']['status'] == 'Success'
    assert j['visual_matches'][0]['link'] == e.url and all(
        {'position', 'title', 'link', 'source', 'thumbnail'} <= set(m) for m in j['visual_matches']
    )
    vm = SearchClient(SerpApiBackend(api_key='any', base_url=url)).image_search(image_id=thumb, num=3)
    assert vm[0].link == e.url and vm[0].snippet == 'wiki.example'
    org = SearchClient(SerpApiBackend(api_key='any', base_url=url)).text_search(e.name, num=3)  # engine=google
    assert org[0].link == e.url


# ---- SearXNG (https://docs.searxng.org/dev/search_api.html)
def test_searxng_json(url, head):
    "GET /search?q=...&format=json; reads results[*].url/title/content."
    j = httpx.get(url + '/search', params={'q': head.name, 'format': 'json'}).json()
    assert j['query'] == head.name and j['results'][0]['url'] == head.url and head.name in j['results'][0]['content']
    assert {'answers', 'infoboxes', 'suggestions', 'number_of_results'} <= set(j)
    hits = SearchClient(SearxngBackend(url)).text_search(head.name, num=5)
    assert hits[0].link == head.url and len(hits) == 5
