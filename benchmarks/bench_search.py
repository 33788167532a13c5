"""Search service benchmark: latency and throughput over loopback HTTP vs in-process retrieval.

Run: .venv/bin/python benchmarks/bench_search.py [--world DIR] [--filler 100000] [--workers 2] [--seconds 4]

For each corpus (the default world, and the same world plus --filler synthetic pages) it measures
  * in-process: SearchEngine.search(q, 10) in one thread (what the service does per request, minus HTTP);
  * service: `mmsearch serve --workers N` pinned to core 0, driven by a raw asyncio keep-alive HTTP/1.1 client
    pinned to core 1 (httpx would spend ~3 ms CPU per request and measure itself), at 1, 8 and 32 connections.
Queries mix entity names, appearance descriptions and benchmark questions of the world with 3-word Zipf queries
over the filler lexicon. Both sides' CPU use is recorded, so a saturated client would show. In the same run (unless
--no-rollout) `benchmarks/bench_rollout.py` times G=8 batched rollouts against one-episode-at-a-time rollouts of a tiny
model in the real loop. Writes a JSON file (--out, default reports/metrics/bench_search.json) and prints the tables.
"""

from __future__ import annotations
import argparse, asyncio, importlib.util, json, os, random, resource, socket, subprocess, sys, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIENT_CPU, SERVER_CPU = 1, 0


# ---------------------------------------------------------------- load client (runs in its own process)
async def _conn_loop(conn, bodies, deadline, lat, errors):
    reader, writer = conn
    i = random.randrange(len(bodies))
    while time.perf_counter() < deadline:
        req = bodies[i % len(bodies)]
        i += 1
        t0 = time.perf_counter()
        writer.write(req)
        head = await reader.readuntil(b'\r\n\r\n')
        n = 0
        for line in head.split(b'\r\n'):
            if line[:15].lower() == b'content-length:':
                n = int(line[15:])
        await reader.readexactly(n)
        lat.append(time.perf_counter() - t0)
        if not head.startswith(b'HTTP/1.1 200'):
            errors.append(head[:40])


async def _load(host, port, bodies, conc, seconds, warmup, server_pid=None):
    "`conc` keep-alive connections, each sending its next request as soon as the last answer is read."
    conns = [await asyncio.open_connection(host, port) for _ in range(conc)]
    for _, wr in conns:
        wr.get_extra_info('socket').setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    end = time.perf_counter() + warmup
    await asyncio.gather(*[_conn_loop(c, bodies, end, [], []) for c in conns])
    lat, errors = [], []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    s0 = proc_cpu_seconds(server_pid) if server_pid else 0
    t0 = time.perf_counter()
    await asyncio.gather(*[_conn_loop(c, bodies, t0 + seconds, lat, errors) for c in conns])
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    s1 = proc_cpu_seconds(server_pid) if server_pid else 0
    for _, wr in conns:
        wr.close()
    return lat, errors, wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), (s1 - s0) / wall


def client_main(a):
    os.sched_setaffinity(0, {CLIENT_CPU})
    bodies = []
    for q in json.loads(Path(a.queries).read_text()):
        b = json.dumps({'q': q, 'num': 10}).encode()
        bodies.append(
            b'POST /search HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s'
            % (len(b), b)
        )
    host, port = a.client.split('//')[1].split(':')
    lat, errors, wall, cpu, server_cpu = asyncio.run(
        _load(host, int(port), bodies, a.conc, a.seconds, a.warmup, a.server_pid)
    )
    lat = np.array(lat) * 1000
    print(
        json.dumps(
            dict(
                n=len(lat),
                errors=len(errors),
                p50_ms=float(np.percentile(lat, 50)),
                p99_ms=float(np.percentile(lat, 99)),
                rps=len(lat) / wall,
                client_cpu=cpu / wall,
                client_cpu_ms_per_req=cpu * 1000 / max(1, len(lat)),
                server_cpu=server_cpu,
                server_cpu_ms_per_req=server_cpu * wall * 1000 / max(1, len(lat)),
            )
        )
    )


# ---------------------------------------------------------------- orchestration
def proc_cpu_seconds(pid: int) -> float:
    "CPU seconds (user + system) of `pid` and all its descendants."
    tot, todo = 0.0, [pid]
    tick = os.sysconf('SC_CLK_TCK')
    while todo:
        p = todo.pop()
        try:
            f = Path(f'/proc/{p}/stat').read_text().rsplit(')', 1)[1].split()
            tot += (int(f[11]) + int(f[12])) / tick
            for t in Path(f'/proc/{p}/task').iterdir():
                todo += [int(c) for c in (t / 'children').read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return tot


def queries_for(world, filler: int, n: int = 2000, seed: int = 0) -> list[str]:
    from mmsearch.world import describe_look
    from mmsearch.search import filler_lexicon

    rng = random.Random(seed)
    qs = [json.loads(l)['question'] for l in (world.root / 'benchmarks' / 'questions.jsonl').read_text().splitlines()]
    pool = [e.name for e in world.entities] + [describe_look(e.look) for e in world.entities] + qs
    out = [rng.choice(pool) for _ in range(n)]
    if filler:
        lex = filler_lexicon(30000, 0)
        p = 1 / np.arange(1, 30001) ** 1.07
        p /= p.sum()
        ids = np.random.default_rng(seed).choice(30000, size=(n // 2, 3), p=p)
        out[: n // 2] = [' '.join(lex[i] for i in row) for row in ids]
        rng.shuffle(out)
    return out


def in_process(engine, queries, seconds: float) -> dict:
    lat, t_end, i = [], time.perf_counter() + seconds, 0
    for q in queries[:50]:
        engine.search(q, 10)
    t0 = time.perf_counter()
    while time.perf_counter() < t_end:
        s = time.perf_counter()
        json.dumps(engine.search(queries[i % len(queries)], 10))
        lat.append(time.perf_counter() - s)
        i += 1
    wall = time.perf_counter() - t0
    lat = np.array(lat) * 1000
    return dict(
        n=len(lat), p50_ms=float(np.percentile(lat, 50)), p99_ms=float(np.percentile(lat, 99)), rps=len(lat) / wall
    )


def bench_corpus(
    world_dir: Path,
    filler: int,
    workers: int,
    seconds: float,
    conc_levels,
    cache_dir: Path,
    http: str,
    log,
    nice: int = 0,
) -> dict:
    from mmsearch.world import World
    from mmsearch.search import SearchEngine, serve_process

    w = World.load(world_dir)
    t0 = time.time()
    eng = SearchEngine.build(world_dir, filler=filler, cache_dir=cache_dir, progress=True)
    log(f'  engine over {len(eng.pages):,} pages ready in {time.time() - t0:.1f} s (index cache: {cache_dir})')
    queries = queries_for(w, filler)
    qfile = cache_dir / f'bench_queries_{filler}.json'
    qfile.write_text(json.dumps(queries))
    os.sched_setaffinity(0, {SERVER_CPU})  # in-process numbers on the core the server will use
    ip = in_process(eng, queries, seconds)
    log(f"  in-process: p50 {ip['p50_ms']:.3f} ms, p99 {ip['p99_ms']:.3f} ms, {ip['rps']:.0f} q/s")
    os.sched_setaffinity(0, set(range(os.cpu_count())))
    del eng
    cells = {}
    serving = serve_process(
        world_dir, workers=workers, filler=filler, cache_dir=cache_dir, http=http, cpus={SERVER_CPU}
    )
    with serving as (url, srv):
        wait_workers(srv, workers)
        time.sleep(1.0)
        for c in conc_levels:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    '--client',
                    url,
                    '--conc',
                    str(c),
                    '--seconds',
                    str(seconds),
                    '--warmup',
                    '0.5',
                    '--queries',
                    str(qfile),
                    '--server-pid',
                    str(srv.pid),
                    '--nice',
                    str(nice),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            cells[c] = r
            log(
                f"  service c={c:>2}: p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  {r['rps']:7.0f} req/s  "
                f"errors {r['errors']}  client CPU {r['client_cpu']:.0%} ({r['client_cpu_ms_per_req']:.3f} ms/req)  "
                f"server CPU {r['server_cpu']:.0%} ({r['server_cpu_ms_per_req']:.3f} ms/req)"
            )
    return dict(
        pages=len(w.pages) + filler, filler=filler, in_process=ip, service={str(k): v for k, v in cells.items()}
    )


def _workers_up(pid):
    kids = []
    for t in Path(f'/proc/{pid}/task').iterdir():
        kids += (t / 'children').read_text().split()
    return kids


def wait_workers(srv: subprocess.Popen, workers: int, timeout: float = 60.0):
    "Wait until the server `srv` has its `workers` worker processes (uvicorn starts them after it prints its URL)."
    t0 = time.time()
    while workers > 1 and len(_workers_up(srv.pid)) < workers:
        if time.time() - t0 > timeout:
            raise RuntimeError(f'only {len(_workers_up(srv.pid))} of {workers} workers came up')
        time.sleep(0.1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--world',
        type=Path,
        default=None,
        help='world directory (default: data/worlds/default-seed0, built if missing)',
    )
    p.add_argument('--filler', type=int, default=100_000, help='filler pages of the big corpus (0: skip it)')
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--seconds', type=float, default=4.0, help='measured seconds per cell')
    p.add_argument('--conc', type=int, nargs='*', default=[1, 8, 32])
    p.add_argument('--http', default='auto', choices=['auto', 'h11', 'httptools'])
    p.add_argument(
        '--nice',
        type=int,
        default=0,
        help='niceness of server and client (negative, as root, to measure the service rather than the neighbours)',
    )
    p.add_argument('--no-rollout', action='store_true', help='skip the batched-vs-sequential rollout benchmark')
    p.add_argument('--out', type=Path, default=ROOT / 'reports' / 'metrics' / 'bench_search.json')
    # client mode (internal)
    p.add_argument('--client')
    p.add_argument('--queries')
    p.add_argument('--warmup', type=float, default=0.5)
    p.add_argument('--server-pid', type=int)
    a = p.parse_args(argv)
    if a.client:
        a.conc = a.conc[0]
        return client_main(a)
    if os.cpu_count() < 2:
        sys.exit('needs 2 cores: one for the server, one for the load client')
    from mmsearch.world import default_world_dir
    from mmsearch.pipeline import build_world
    from mmsearch.core import data_dir, portable, write_json
    import uvicorn

    wd = a.world or default_world_dir('default', 0)
    if not (wd / 'manifest.json').exists():
        build_world(wd, seed=0, size='default')
    cache = data_dir() / 'cache' / 'search'
    cache.mkdir(parents=True, exist_ok=True)
    has_httptools = importlib.util.find_spec('httptools') is not None
    parser = 'httptools' if has_httptools and a.http in ('auto', 'httptools') else 'h11'
    log = lambda m: print(m, flush=True)
    if a.nice:
        os.nice(a.nice)  # the in-process measurement runs here; children set theirs
    log(
        f'bench_search: world {wd}, {a.workers} workers on core {SERVER_CPU}, client on core {CLIENT_CPU}, '
        f'uvicorn {uvicorn.__version__} ({parser}), '
        f'nice {a.nice}, load avg {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores'
    )
    res = dict(
        world=str(wd),
        workers=a.workers,
        http=parser,
        seconds=a.seconds,
        nice=a.nice,
        loadavg_start=os.getloadavg()[0],
        corpora={},
    )
    for name, filler in [('default', 0)] + ([(f'{a.filler // 1000}k', a.filler)] if a.filler else []):
        log(f'corpus {name}:')
        res['corpora'][name] = bench_corpus(wd, filler, a.workers, a.seconds, a.conc, cache, a.http, log, a.nice)
    res['loadavg_end'] = os.getloadavg()[0]
    # ratio table
    print(
        '\n| corpus | pages | in-process p50 / p99 (ms), q/s | '
        + ' | '.join(f'c={c}: p50 / p99 (ms), req/s' for c in a.conc)
        + ' | service/in-process throughput at c='
        + str(max(a.conc))
        + ' |'
    )
    print('|---|---|---|' + '---|' * len(a.conc) + '---|')
    for name, r in res['corpora'].items():
        ip = r['in_process']
        sv = r['service']
        cells = ' | '.join(
            f"{sv[str(c)]['p50_ms']:.2f} / {sv[str(c)]['p99_ms']:.2f}, {sv[str(c)]['rps']:.0f}" for c in a.conc
        )
        ratio = sv[str(max(a.conc))]['rps'] / ip['rps']
        print(
            f"| {name} | {r['pages']:,} | {ip['p50_ms']:.3f} / {ip['p99_ms']:.3f}, {ip['rps']:.0f} "
            f"| {cells} | {ratio:.2f} |"
        )
    targets = []
    d32 = res['corpora']['default']['service'].get('32')
    if d32:
        targets.append(
            (
                'default world, 32 clients: >= 1000 req/s and p99 <= 50 ms',
                d32['rps'] >= 1000 and d32['p99_ms'] <= 50,
                f"{d32['rps']:.0f} req/s, p99 {d32['p99_ms']:.1f} ms",
            )
        )
    big = [v for k, v in res['corpora'].items() if k != 'default']
    if big and '32' in big[0]['service']:
        b = big[0]['service']['32']
        targets.append(
            (
                f"{big[0]['pages']:,} pages, 32 clients: >= 300 req/s and p99 <= 200 ms",
                b['rps'] >= 300 and b['p99_ms'] <= 200,
                f"{b['rps']:.0f} req/s, p99 {b['p99_ms']:.1f} ms",
            )
        )
    if not a.no_rollout:
        sys.path.insert(0, str(Path(__file__).parent))
        import bench_rollout

        log('\nrollouts (bench_rollout.run):')
        r = res['rollout'] = bench_rollout.run(log=log)
        cells = '; '.join(
            f"{k}: {r[k]['sequential']['seconds']:.2f} s sequential / "
            f"{r[k]['batched']['seconds']:.2f} s batched = {r[k]['ratio']}x"
            for k in ('tools', 'bare')
        )
        targets.append(
            (
                f"rollouts, G={r['G']} batched vs one at a time: >= 4x (with tool schemas in the prompt)",
                r['ratio'] >= 4,
                cells,
            )
        )
    print()
    for t, ok, got in targets:
        print(f"{'PASS' if ok else 'MISS'}  {t}: {got}")
    res['targets'] = [dict(target=t, met=ok, measured=got) for t, ok, got in targets]
    write_json(a.out, portable(res))
    print(f'\nwrote {a.out}')


if __name__ == '__main__':
    main()
