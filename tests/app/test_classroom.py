"""A classroom on one server (issue 21), against the app as its own process on 127.0.0.1: open
webcam streams never hold the model workers, and one session firing many calls cannot slow
another's classify much (one model call per session at once; queued events per session capped)."""

from __future__ import annotations

import json
import multiprocessing
import statistics
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gradio_client import Client, handle_file
from test_hosted import colour_session

from savs.limits import LIVE_STREAMS, LIVE_STREAMS_WAITING, MAX_QUEUED_PER_SESSION
from studio.fairness import JOIN_WAIT_S

import studio_fixtures as sf

pytestmark = pytest.mark.app

CLASSIFY_LIMIT_S = 2.0  # issue 21: with four live streams open (was: no answer in 12 s)
SLOWDOWN_LIMIT = 3.0  # issue 21: another session's median classify, 40 calls in flight (was 21x)
OPEN_STREAMS = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sf.app_server(tmp_path_factory.mktemp("classroom")) as served:
        yield served


def post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def fn_index(url: str, api_name: str) -> int:
    with urllib.request.urlopen(url + "config", timeout=10) as response:
        config = json.loads(response.read())
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)


def join(url: str, index: int, data: list, session: str) -> tuple[int, dict]:
    """What a script does: join the queue over HTTP and never read the answers."""
    body = {"data": data, "fn_index": index, "session_hash": session, "event_data": None}
    return post_json(url + "gradio_api/queue/join", body)


def stream_outputs(url: str, session: str, event_id: str, timeout: float = 60) -> Iterator[list]:
    """The outputs event `event_id` sends on `session`'s event stream (each message's data), as
    they come; an AssertionError if the event completes (a stream ends only when closed)."""
    events = urllib.request.urlopen(
        f"{url}gradio_api/queue/data?session_hash={session}", timeout=timeout
    )
    try:
        for raw in events:
            line = raw.decode().strip()
            message = json.loads(line[5:]) if line.startswith("data:") else {}
            output = message.get("output") or {}
            if message.get("event_id") == event_id and output.get("data"):
                yield output["data"]
            if message.get("msg") == "process_completed":
                raise AssertionError(f"the stream ended: {message}")
    finally:
        events.close()


def test_open_live_streams_do_not_hold_up_another_sessions_classify(server, tmp_path):
    url, _ = server
    other, held_out = colour_session(url, tmp_path)
    index = fn_index(url, "classify_frame")
    for _ in range(OPEN_STREAMS):  # four idle streams, each its own session, left waiting
        status, answer = join(url, index, [None, None, ""], uuid.uuid4().hex)
        assert status == 200, answer
    time.sleep(1.0)  # the streams are running and waiting for their next frame
    times = []
    for _ in range(3):
        start = time.perf_counter()
        label, *_ = other.predict(handle_file(held_out), "", api_name="/classify")
        times.append(time.perf_counter() - start)
        assert label["label"] == "red"
    print(f"\nclassify with {OPEN_STREAMS} live streams open: {max(times):.2f} s at most")
    assert max(times) < CLASSIFY_LIMIT_S, times


def test_a_session_cannot_queue_more_than_its_share(server):
    url, _ = server
    index, session = fn_index(url, "classify"), uuid.uuid4().hex
    statuses = [join(url, index, [None, None, ""], session)[0] for _ in range(20)]
    assert statuses.count(200) <= MAX_QUEUED_PER_SESSION, statuses
    assert 503 in statuses, statuses
    status, answer = join(url, index, [None, None, ""], session)
    assert status == 503 and "requests waiting" in answer["detail"], answer


def classify_times(client: Client, image, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        label, *_ = client.predict(handle_file(image), "", api_name="/classify")
        out.append(time.perf_counter() - start)
        assert label["label"] == "red"
    return out


def test_a_session_with_40_calls_in_flight_slows_another_by_at_most_3x(server, tmp_path):
    url, _ = server
    (tmp_path / "victim").mkdir()
    (tmp_path / "flooder").mkdir()
    victim, held_out = colour_session(url, tmp_path / "victim")
    flooder, flood_image = colour_session(url, tmp_path / "flooder")
    classify_times(victim, held_out, 2)  # warm
    idle = classify_times(victim, held_out, 10)
    # the flooding client runs in its own process, as it would on its own machine
    flood = multiprocessing.get_context("fork").Process(
        target=keep_40_in_flight, args=(flooder, flood_image), daemon=True
    )
    flood.start()
    time.sleep(2.0)  # the flood is in flight
    try:
        busy = classify_times(victim, held_out, 10)
    finally:
        flood.terminate()
        flood.join(timeout=30)
    ratio = statistics.median(busy) / statistics.median(idle)
    print(
        f"\nmedian classify {statistics.median(idle):.3f} s idle, {statistics.median(busy):.3f} s"
        f" beside a 40-call flood: {ratio:.2f}x"
    )
    assert ratio <= SLOWDOWN_LIMIT, (ratio, idle, busy)


def keep_40_in_flight(client: Client, image, seconds: float = 120) -> None:
    """Bursts of 40 /classify, the next burst when all 40 have ended (refused or answered);
    stops after `seconds` if not stopped before. (Resubmitting each refused call at once is a
    request-rate flood: SECURITY.md gives its measured cost.)"""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        jobs = [client.submit(handle_file(image), "", api_name="/classify") for _ in range(40)]
        for job in jobs:
            try:
                job.result(timeout=60)
            except Exception:  # noqa: BLE001, S112 - refused: one model call per session
                continue


def test_a_burst_of_calls_is_answered_in_turn_or_refused_at_once(server, tmp_path):
    """20 /classify joins at the same moment from one session (raw HTTP, as a script sends
    them): one model call runs, one more may wait at the door for it (JOIN_WAIT_S), the rest
    are refused at once with why; the session still classifies afterwards. (Joins sent one
    after another are each answered in turn: the door waits for the call before.)"""
    url, _ = server
    client, held_out = colour_session(url, tmp_path)
    files = [("files", (held_out.name, held_out.read_bytes(), "image/png"))]
    [path] = httpx.post(url + "gradio_api/upload", files=files, timeout=30).json()
    image = {"path": path, "orig_name": held_out.name, "meta": {"_type": "gradio.FileData"}}
    index, ready = fn_index(url, "classify"), threading.Barrier(20)

    def one() -> tuple[int, dict]:
        ready.wait()
        return join(url, index, [None, image, ""], client.session_hash)

    start = time.perf_counter()
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: one(), range(20)))
    statuses = [status for status, _ in answers]
    assert 1 <= statuses.count(200) <= 2, answers
    refused = [answer["detail"] for status, answer in answers if status != 200]
    assert len(refused) >= 18 and all("still running" in r for r in refused), answers
    assert time.perf_counter() - start < 10
    time.sleep(2 * JOIN_WAIT_S)  # the accepted calls end (nobody reads their answers)
    label, *_ = client.predict(handle_file(held_out), "", api_name="/classify")
    assert label["label"] == "red"


def test_a_session_holds_one_live_stream_of_the_shared_ones(server):
    """A second /classify_frame stream of one session is refused as it joins (after
    JOIN_WAIT_S); another session's stream is not."""
    url, _ = server
    index, session = fn_index(url, "classify_frame"), uuid.uuid4().hex
    status, answer = join(url, index, [None, None, ""], session)
    assert status == 200, answer
    time.sleep(0.5)  # the stream runs and waits for its next frame
    status, answer = join(url, index, [None, None, ""], session)
    assert status == 503 and "stream open" in answer["detail"], answer
    status, answer = join(url, index, [None, None, ""], uuid.uuid4().hex)
    assert status == 200, answer


def test_webcam_streams_from_made_up_sessions_cannot_fill_the_queue(server, tmp_path):
    """Streams cost a script nothing (no frame needed) and hold their place for up to 30 s:
    joined from many made-up sessions, they filled gradio's 64 places and every other event was
    refused ("Queue is full"). Now at most LIVE_STREAMS run and LIVE_STREAMS_WAITING wait; a
    join past that is refused, and another session still classifies. (Last in this module: the
    streams it leaves end after LIVE_TIME_LIMIT_S.)"""
    url, _ = server
    other, held_out = colour_session(url, tmp_path)
    index = fn_index(url, "classify_frame")
    answers = [join(url, index, [None, None, ""], uuid.uuid4().hex) for _ in range(48)]
    accepted = [a for status, a in answers if status == 200]
    refused = [a["detail"] for status, a in answers if status != 200]
    assert len(accepted) <= LIVE_STREAMS + LIVE_STREAMS_WAITING + OPEN_STREAMS, len(accepted)
    assert refused and all("Too many webcams" in why for why in refused), refused[:3]
    start = time.perf_counter()
    label, *_ = other.predict(handle_file(held_out), "", api_name="/classify")
    assert label["label"] == "red" and time.perf_counter() - start < CLASSIFY_LIMIT_S
