"""The web studio's figures (issue 18): how soon a suggestion is ready, how soon a moved
slider is heard, how the server answers while renders run, and its memory.

Starts ``automaster serve`` (this Python's script) on a loopback port with a data folder of
its own, warms its workers with a short mix, then, on the benchmark's full-length track
(bench_match's ``--full-track`` case: the corpus track closest to 180 s, degraded with seed
0, against the next closest):

- upload-to-settings, upload-to-first-listen and upload-to-report: from the end of the mix's
  and the reference's uploads to the suggested settings on the page (fitted, before the
  plan), to its first excerpts and curves fetched as the page fetches them (the draft: the
  loudest 25 s planned on their own), and to the suggestion's end (its report page and the
  excerpts through the whole mix's plan);
- slider-to-new-audio: from a changed EQ amount to the new "after" excerpt fetched and the
  plots' curves in hand (the quick path through the suggestion's kept plan), and to the
  exact suggestion's end; loudness-to-new-audio: the same for a moved loudness target (the
  excerpt planned on its own);
- page requests while two renders of the whole master run: p50/p95/max of ``GET /`` and
  ``GET /api/mixes``;
- memory: the server's resident set (VmRSS, and its peak VmHWM) with 10 mixes open, and the
  workers' peak.

    python benchmarks/bench_studio.py ~/corpus [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_match import default_automaster_prefix, full_track_case


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memory_kib(pid: int) -> dict[str, int]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+)", text).group(1)) for key in ("VmRSS", "VmHWM")}


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the studio's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait_job(client: httpx.Client, job: str, fitted: list | None = None, heard: list | None = None) -> str:
    """The job's end state; ``fitted`` gets the time its settings were fitted, ``heard`` the
    time its first excerpts (the draft) were on hand as the page takes them: the mix's
    listing and the three FLAC excerpts fetched."""
    with client.stream("GET", f"/api/jobs/{job}/events", timeout=600) as events:
        for line in events.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if fitted is not None and event.get("fitted") and not fitted:
                    fitted.append(time.perf_counter())
                if heard is not None and event.get("listen") and not heard:
                    listen = client.get("/api/mixes").json()["mixes"][-1]["listen"]
                    for label in listen["clips"]:
                        got = client.get(f"/api/suggestions/{listen['suggestion']}/clips/{listen['stage']}-{label}")
                        got.raise_for_status()
                    heard.append((time.perf_counter(), listen["stage"]))
                if event["state"] in ("done", "failed"):
                    return event["state"]
    return "lost"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus_dir", type=Path)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_studio_"))
    work.mkdir(parents=True, exist_ok=True)
    case = full_track_case(sorted(args.corpus_dir.glob("*.wav")), 0, work)
    port = _free_port()
    server = subprocess.Popen([*default_automaster_prefix(), "serve", "--port", str(port), "--data", str(work / "data"),
                               "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(url + "/")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the studio did not start")
                time.sleep(0.1)
        csrf = re.search(r'<meta name="csrf" content="([^"]+)"', page.text).group(1)
        client = httpx.Client(base_url=url, headers={"x-automaster-csrf": csrf}, timeout=600)

        def upload(path: Path, mix_id: str | None = None) -> str:
            target = "/api/mixes" if mix_id is None else f"/api/mixes/{mix_id}/references"
            with open(path, "rb") as f:
                made = client.post(target, params={"name": path.name}, content=f)
            made.raise_for_status()
            return made.json()["id"]

        settings_s = []
        heard_s = []

        def suggest(mix_id: str, options: dict) -> float:
            start = time.perf_counter()
            job = client.post(f"/api/mixes/{mix_id}/suggestions", json={"options": options}).json()["job"]
            fitted: list = []
            heard: list = []
            if _wait_job(client, job, fitted, heard) != "done":
                raise SystemExit(f"a suggestion failed: {client.get('/api/mixes').json()}")
            settings_s.append(fitted[0] - start if fitted else float("nan"))
            heard_s.append((heard[0][0] - start, heard[0][1]) if heard else (float("nan"), "none"))
            return time.perf_counter() - start

        # Warm the two workers (spawned processes import the engine once).
        warm = upload(Path(__file__).resolve().parent.parent / "examples" / "mix.flac")
        for _ in range(2):
            suggest(warm, {})

        mix_id = upload(case.mix_path)
        upload(case.ref_path, mix_id)
        first = suggest(mix_id, {})
        first_settings = settings_s[-1]
        first_heard, first_stage = heard_s[-1]
        base = client.get("/api/mixes").json()["mixes"][-1]["suggestion"]["id"]
        slider, answered, took = [], [], []
        for eq in (50.0, 70.0, 30.0, 80.0, 60.0):
            start = time.perf_counter()
            heard = client.post(f"/api/mixes/{mix_id}/quick", json={"suggestion": base, "options": {"amount": {"eq": eq}}})
            heard.raise_for_status()
            answered.append(time.perf_counter() - start)
            took.append(heard.json()["took_s"])
            client.get(heard.json()["after"]).raise_for_status()  # the excerpt, as the page's player fetches it
            slider.append(time.perf_counter() - start)
            assert heard.json()["curves"]["eq"]["amount"] == eq / 100
        aimed = []
        for lufs in (-12.0, -10.0, -14.0):  # the loudness moved: the excerpt planned on its own
            start = time.perf_counter()
            heard = client.post(f"/api/mixes/{mix_id}/quick", json={"suggestion": base, "options": {"lufs": lufs}})
            heard.raise_for_status()
            client.get(heard.json()["after"]).raise_for_status()
            aimed.append(time.perf_counter() - start)
        exact = [suggest(mix_id, {"amount": {"eq": eq}}) for eq in (50.0, 30.0)]

        suggestion = client.get("/api/mixes").json()["mixes"][-1]["suggestion"]["id"]
        jobs = [client.post(f"/api/mixes/{mix_id}/versions", json={"suggestion": suggestion}).json()["job"]
                for _ in range(2)]
        latencies = {"/": [], "/api/mixes": []}
        worker_peak = 0
        while any(client.get("/api/mixes").json()["mixes"][-1]["jobs"][-k]["state"] != "done" for k in (1, 2)):
            for path in latencies:
                start = time.perf_counter()
                client.get(path).raise_for_status()
                latencies[path].append(time.perf_counter() - start)
            for child in _children(server.pid):
                try:
                    worker_peak = max(worker_peak, _memory_kib(child)["VmHWM"])
                except (OSError, AttributeError):
                    pass
            time.sleep(0.05)
        for job in jobs:
            _wait_job(client, job)

        for k in range(8):  # 10 mixes open in all (the warm-up's, the track, and 8 more)
            upload(case.mix_path)
        memory = _memory_kib(server.pid)
        print(f"{case.mix_name} ({case.duration_s:.0f} s) against {case.ref_name}; workers 2")
        print(f"upload-to-settings (3-minute mix)     {first_settings:6.2f} s   (the suggested settings on the page)")
        print(f"upload-to-first-listen (3-minute mix) {first_heard:6.2f} s   (the {first_stage} excerpts and curves in the"
              f" studio's players and plots, fetched; asked: at most 3 s)")
        print(f"upload-to-report (3-minute mix)       {first:6.2f} s   (the exact suggestion: report page, figures,"
              f" excerpts through the whole mix's plan)")
        print(f"slider-to-new-audio (EQ amount)       {statistics.median(slider):6.2f} s median of {len(slider)}"
              f" ({min(slider):.2f}-{max(slider):.2f})   (asked: at most 0.5 s; the quick excerpt through the kept plan"
              f" and the plots' curves, its 25 s FLAC fetched)")
        print(f"  of which the answer                 {statistics.median(answered):6.2f} s median"
              f" (in the quick process {statistics.median(took):.2f} s: fit, excerpt, curves, FLAC written)")
        print(f"loudness-to-new-audio (target moved)  {statistics.median(aimed):6.2f} s median of {len(aimed)}"
              f" ({min(aimed):.2f}-{max(aimed):.2f})   (a draft: the excerpt planned on its own)")
        print(f"  then the exact suggestion           {statistics.median(exact):6.2f} s median of {len(exact)}")
        for path, values in latencies.items():
            values = sorted(values)
            p95 = values[max(0, int(round(0.95 * len(values))) - 1)]
            print(f"GET {path:<12} during two renders    p50 {1000 * statistics.median(values):6.1f} ms   "
                  f"p95 {1000 * p95:6.1f} ms   max {1000 * values[-1]:6.1f} ms   ({len(values)} requests; asked p95 <= 100 ms)")
        print(f"server memory, 10 mixes open          RSS {memory['VmRSS'] / 1024:6.0f} MiB   peak {memory['VmHWM'] / 1024:6.0f} MiB"
              f"   workers' peak {worker_peak / 1024:6.0f} MiB each at most")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
