"""Mixed-workload benchmark of the search service: 70% search, 10% retrieve, 10% visit, 10% lens over loopback HTTP.

Run: .venv/bin/python benchmarks/bench_search_mixed.py [--world DIR] [--requests 10000] [--conc 64] [--workers 2]

Every request's expected answer is computed in process first (the same engine calls the handler makes), and the load
client checks each answer's status and the SHA-256 of its body against it, so "0 errors" means every answer was the
right one. The same server then answers the same number of search-only requests for comparison. Server (`mmsearch
serve --workers N`) on core 0, the raw asyncio keep-alive client (from bench_search.py) on core 1. Writes
benchmarks/results/bench_search_mixed.json (--out) and prints a table.
"""

from __future__ import annotations
import argparse, asyncio, base64, hashlib, io, json, os, random, socket, subprocess, sys, time
from pathlib import Path
from urllib.parse import quote
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'benchmarks'))
from bench_search import proc_cpu_seconds, queries_for, wait_workers, CLIENT_CPU, SERVER_CPU  # noqa: E402

MIX = dict(search=0.7, retrieve=0.1, visit=0.1, lens=0.1)


def _http(method: str, path: str, body: bytes = b'', ctype: str = 'application/json') -> bytes:
    head = f'{method} {path} HTTP/1.1\r\nHost: bench\r\n'
    if method == 'POST':
        head += f'Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n'
    return head.encode() + b'\r\n' + body


def _multipart(png: bytes, fields: dict) -> tuple[bytes, str]:
    b = 'mmsearchbenchboundary'
    parts = [f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(
        f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="crop.png"\r\n'.encode()
        + b'Content-Type: image/png\r\n\r\n'
        + png
        + b'\r\n'
    )
    return b''.join(parts) + f'--{b}--\r\n'.encode(), f'multipart/form-data; boundary={b}'


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _js(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def request_pool(world, eng, seed: int = 0) -> dict:
    "Distinct requests of each kind with the SHA-256 of the answer the engine gives them: kind -> [(raw request, sha)]."
    from PIL import Image
    from mmsearch.search import decode_image

    rng = random.Random(seed)
    qs = list(dict.fromkeys(queries_for(world, 0, n=3000, seed=seed)))
    pool = dict(search=[(_http('POST', '/search', _js({'q': q, 'num': 10})), _sha(_js(eng.search(q, 10)))) for q in qs])
    pool['retrieve'] = []
    for i in range(300):
        batch, scores = rng.sample(qs, rng.randint(1, 4)), bool(i % 2)
        pool['retrieve'].append(
            (
                _http('POST', '/retrieve', _js({'queries': batch, 'topk': 3, 'return_scores': scores})),
                _sha(_js(eng.retrieve(batch, 3, scores))),
            )
        )
    pool['visit'] = [
        (_http('GET', '/visit?url=' + quote(p['url'], safe='')), _sha(eng.visit(p['url']).encode()))
        for p in rng.sample(eng.pages, min(300, len(eng.pages)))
    ]
    pool['lens'] = []
    objs = [(s, o) for s in world.scenes for o in s['objects'] if o['entity_id']]
    for i, (s, o) in enumerate(rng.sample(objs, min(200, len(objs)))):
        if i % 2:  # a world image by id, cropped by the server
            body = {'image_id': s['image'], 'box': o['box'], 'num': 5}
            pool['lens'].append(
                (
                    _http('POST', '/lens', _js(body)),
                    _sha(_js(eng.lens(eng.resolve_image(s['image']), o['box'], 'px', 5))),
                )
            )
        else:  # an uploaded crop
            buf = io.BytesIO()
            Image.open(world.root / s['image']).convert('RGB').crop(tuple(o['box'])).save(buf, format='PNG')
            body, ctype = _multipart(buf.getvalue(), {'num': '5'})
            pool['lens'].append(
                (_http('POST', '/lens', body, ctype), _sha(_js(eng.lens(decode_image(buf.getvalue()), None, 'px', 5))))
            )
    return pool


def workload(pool: dict, n: int, mix: dict, seed: int = 0) -> list:
    "`n` (kind, raw, sha) drawn from `pool` in the proportions of `mix`, shuffled."
    rng = random.Random(seed)
    counts = {k: round(n * p) for k, p in mix.items()}
    out = [(k, *rng.choice(pool[k])) for k, c in counts.items() for _ in range(c)]
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------- load client (its own process)
async def _conn(host, port, reqs, next_i, lat, bad):
    reader, writer = await asyncio.open_connection(host, port)
    writer.get_extra_info('socket').setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while (i := next_i()) is not None:
        kind, raw, sha = reqs[i]
        t0 = time.perf_counter()
        writer.write(raw)
        head = await reader.readuntil(b'\r\n\r\n')
        n = next(int(l[15:]) for l in head.split(b'\r\n') if l[:15].lower() == b'content-length:')
        body = await reader.readexactly(n)
        lat[kind].append(time.perf_counter() - t0)
        if not head.startswith(b'HTTP/1.1 200') or _sha(body) != sha:
            bad.append((kind, head[:40].decode('latin-1'), body[:120].decode('utf-8', 'replace')))
    writer.close()


async def _load(host, port, reqs, conc):
    it = iter(range(len(reqs)))
    next_i = lambda: next(it, None)
    lat, bad = {k: [] for k in {r[0] for r in reqs}}, []
    t0 = time.perf_counter()
    await asyncio.gather(*[_conn(host, port, reqs, next_i, lat, bad) for _ in range(conc)])
    return lat, bad, time.perf_counter() - t0


def _pct(xs):
    a = np.array(xs) * 1000
    return dict(n=len(a), p50_ms=round(float(np.percentile(a, 50)), 2), p99_ms=round(float(np.percentile(a, 99)), 2))


def client_main(a):
    os.sched_setaffinity(0, {CLIENT_CPU})
    reqs = [(k, base64.b64decode(r), s) for k, r, s in json.loads(Path(a.requests_file).read_text())]
    host, port = a.client.split('//')[1].split(':')
    s0, r0 = proc_cpu_seconds(a.server_pid), time.process_time()
    lat, bad, wall = asyncio.run(_load(host, int(port), reqs, a.conc))
    s1, r1 = proc_cpu_seconds(a.server_pid), time.process_time()
    everything = [x for v in lat.values() for x in v]
    print(
        json.dumps(
            dict(
                requests=len(everything),
                errors=len(bad),
                first_errors=bad[:3],
                seconds=round(wall, 2),
                rps=round(len(everything) / wall, 1),
                **_pct(everything),
                kinds={k: _pct(v) for k, v in sorted(lat.items())},
                server_cpu=round((s1 - s0) / wall, 2),
                client_cpu=round((r1 - r0) / wall, 2),
            )
        )
    )


# ---------------------------------------------------------------- orchestration
def run_client(url, reqs, conc, server_pid, tmp: Path) -> dict:
    f = tmp / 'bench_mixed_requests.json'
    f.write_text(json.dumps([(k, base64.b64encode(r).decode(), s) for k, r, s in reqs]))
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            '--client',
            url,
            '--conc',
            str(conc),
            '--requests-file',
            str(f),
            '--server-pid',
            str(server_pid),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--world',
        type=Path,
        default=None,
        help='world directory (default: data/worlds/default-seed0, built if missing)',
    )
    p.add_argument('--requests', type=int, default=10_000)
    p.add_argument('--conc', type=int, default=64)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--out', type=Path, default=ROOT / 'benchmarks' / 'results' / 'bench_search_mixed.json')
    p.add_argument('--client')
    p.add_argument('--requests-file')
    p.add_argument('--server-pid', type=int)
    a = p.parse_args(argv)
    if a.client:
        return client_main(a)
    from mmsearch.world import World, default_world_dir
    from mmsearch.pipeline import build_world
    from mmsearch.search import SearchEngine, serve_process
    from mmsearch.core import data_dir, write_json

    wd = a.world or default_world_dir('default', 0)
    if not (wd / 'manifest.json').exists():
        build_world(wd, seed=0, size='default')
    cache = data_dir() / 'cache' / 'search'
    cache.mkdir(parents=True, exist_ok=True)
    w, t0 = World.load(wd), time.time()
    eng = SearchEngine.build(wd, cache_dir=cache)
    pool = request_pool(w, eng)
    print(
        f'bench_search_mixed: {len(eng.pages)} pages; expected answers of {sum(map(len, pool.values()))} '
        f'distinct requests in {time.time() - t0:.1f} s; '
        f'load avg {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores',
        flush=True,
    )
    del eng
    with serve_process(wd, workers=a.workers, cache_dir=cache, cpus={SERVER_CPU}) as (url, srv):
        wait_workers(srv, a.workers)
        run_client(url, workload(pool, 500, MIX, seed=1), a.conc, srv.pid, cache)  # warm-up
        mixed = run_client(url, workload(pool, a.requests, MIX), a.conc, srv.pid, cache)
        search = run_client(url, workload(pool, a.requests, dict(search=1.0)), a.conc, srv.pid, cache)
    print(f'\n| workload ({a.requests} requests, {a.conc} connections) | req/s | p50 ms | p99 ms | errors |')
    print('|---|---|---|---|---|')
    for name, r in (('mixed 70/10/10/10', mixed), ('search only', search)):
        print(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |")
    for k, v in mixed['kinds'].items():
        print(f"|   {k} in the mix ({v['n']}) | | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | |")
    res = dict(
        world=wd.name,
        pages=len(w.pages),
        workers=a.workers,
        conc=a.conc,
        requests=a.requests,
        mix=MIX,
        mixed=mixed,
        search_only=search,
        loadavg_end=os.getloadavg()[0],
    )
    write_json(a.out, res)
    print(f'\nwrote {a.out}')
    if mixed['errors'] or search['errors']:
        sys.exit(f"errors: {mixed['first_errors'] or search['first_errors']}")


if __name__ == '__main__':
    main()
