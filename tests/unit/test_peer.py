"""The W' block server (``sparkw2v.peer``): block servers of one process on 127.0.0.1 take a
block equal to what was put, refuse a wrong secret, a damaged block and another stage's block,
each with one error naming the sender, listen on their own address only and on a port of the
configured range; rings of tasks in threads over Flight (and shared memory between tasks of
one host) give the one-task result bit for bit."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import numpy as np
import pyarrow.flight as flight
import pytest

from sparkw2v import kernel, peer, worker
from sparkw2v.blockstore import Aborted, BlockStore
from sparkw2v.head import Head
from sparkw2v.layout import owned_blocks
from tests.unit.test_worker import epoch_inputs, run_tasks

SECRET = "s3cret" * 8
STAGE = peer.Stage("run1", 2, 0, 2)


@pytest.fixture
def servers():
    """Task 0's and task 1's block servers of STAGE (task 1 hands blocks to task 0)."""
    started = [peer.BlockServer.start("127.0.0.1", (0, 0), STAGE, t, SECRET) for t in range(2)]
    yield started
    for server in started:
        server.shutdown()


def put(server_to, rows, secret=SECRET, stage=STAGE, sender=1, address="127.0.0.1:1", damage=None, key=(0, 1, 3),
        checksum=None):
    head = peer.block_head(stage, sender, address, *key, rows)
    if damage:
        head.update(damage)
    client = peer.connect(server_to.address)
    try:
        peer.put_block(client, secret, head, rows, timeout=30, chunk_bytes=1000, checksum=checksum)
    finally:
        client.close()


def test_a_block_put_arrives_equal(servers):
    rows = np.random.default_rng(0).standard_normal((123, 7)).astype(np.float32)
    put(servers[0], rows)
    got = servers[0].take(0, 1, 3, (123, 7), timeout=10)
    np.testing.assert_array_equal(got, rows)
    assert got.flags.writeable and got.dtype == np.float32
    assert servers[0].bytes_received == rows.nbytes


def test_a_wrong_secret_is_refused_naming_the_sender(servers):
    rows = np.ones((4, 3), np.float32)
    with pytest.raises(flight.FlightUnauthenticatedError, match="wrong secret"):
        put(servers[0], rows, secret="another run's secret", address="10.1.2.3:4000")
    with pytest.raises(peer.PeerError, match=r"task 0 of epoch 3: a stray W' block from task 1 at 10\.1\.2\.3:4000 "
                                             r"\(connection .*\): wrong secret"):
        servers[0].take(0, 1, 3, (4, 3), timeout=10)


def test_a_damaged_block_is_refused_naming_the_sender(servers):
    rows = np.ones((50, 3), np.float32)
    with pytest.raises(flight.FlightServerError, match="XXH3-64"):
        put(servers[0], rows, checksum=peer.block_checksum(b"other bytes"), address="10.9.9.9:1")
    with pytest.raises(peer.PeerError, match=r"a damaged W' block 3 \(cycle 0, sub-epoch 1\) from task 1 at "
                                             r"10\.9\.9\.9:1: XXH3-64 [0-9a-f]{16} of the 600 bytes that arrived "
                                             r"differs from the sender's '[0-9a-f]{16}'"):
        servers[0].take(0, 1, 3, (50, 3), timeout=10)
    # every later wait fails the same way: the epoch stops
    with pytest.raises(peer.PeerError, match="damaged"):
        servers[0].check()


@pytest.mark.parametrize("bit", [0, 7, 6999 * 8 + 3, 13999 * 8 + 7])
def test_one_flipped_bit_in_transit_is_refused(servers, bit):
    # what a link that damages one bit does: the receiver gets other bytes than the sender summed;
    # 14 000 bytes go as 14 batches of 1000, the bit in the first, a middle or the last batch
    rows = np.random.default_rng(1).standard_normal((700, 5)).astype(np.float32)
    damaged = rows.copy()
    damaged.view(np.uint8).reshape(-1)[bit // 8] ^= 1 << (bit % 8)
    stated = peer.block_checksum(rows)
    with pytest.raises(flight.FlightServerError, match="XXH3-64"):
        put(servers[0], damaged, checksum=stated)
    with pytest.raises(peer.PeerError, match="differs from the sender's"):
        servers[0].check()


def test_put_block_returns_the_checksum_of_the_bytes_it_sent_in_chunks(servers):
    rows = np.random.default_rng(2).standard_normal((700, 5)).astype(np.float32)  # 14 000 bytes: 14 chunks of 1000
    head = peer.block_head(STAGE, 1, "127.0.0.1:1", 0, 1, 3, rows)
    client = peer.connect(servers[0].address)
    try:
        sent = peer.put_block(client, SECRET, head, rows, timeout=30, chunk_bytes=1000)
    finally:
        client.close()
    assert sent == peer.block_checksum(rows.tobytes()) and len(sent) == 16
    assert sent != peer.block_checksum(rows[:-1].tobytes())
    np.testing.assert_array_equal(servers[0].take(0, 1, 3, rows.shape, timeout=10), rows)


def test_a_block_without_its_checksum_is_refused(servers):
    rows = np.ones((4, 3), np.float32)
    head = peer.block_head(STAGE, 1, "127.0.0.1:9", 0, 1, 3, rows)
    client = peer.connect(servers[0].address)
    try:
        writer, _ = client.do_put(flight.FlightDescriptor.for_command(peer._signed(SECRET, head)), peer.SCHEMA)
        writer.write_batch(peer.pa.record_batch([peer.pa.array(rows.ravel())], schema=peer.SCHEMA))
        with pytest.raises(flight.FlightServerError, match="no XXH3-64 checksum"):
            writer.done_writing()
            writer.close()
    finally:
        client.close()
    with pytest.raises(peer.PeerError, match=r"damaged W' block 3 .* from task 1 at 127\.0\.0\.1:9: no XXH3-64 checksum"):
        servers[0].check()


@pytest.mark.parametrize("damage,what", [({"nbytes": 4}, "4 bytes declared for shape"),
                                         ({"shape": [60, 3], "nbytes": 720}, "bytes arrived, 720 declared")])
def test_a_block_of_another_size_is_refused(servers, damage, what):
    with pytest.raises(flight.FlightServerError):
        put(servers[0], np.ones((50, 3), np.float32), damage=damage)
    with pytest.raises(peer.PeerError, match=what):
        servers[0].take(0, 1, 3, (50, 3), timeout=10)


def test_a_block_of_another_shape_than_the_layout_is_refused(servers):
    put(servers[0], np.ones((10, 3), np.float32))
    with pytest.raises(peer.PeerError, match=r"from task 1: shape \(10, 3\), the layout says \(5, 6\)"):
        servers[0].take(0, 1, 3, (5, 6), timeout=10)


@pytest.mark.parametrize("stage", [peer.Stage("run2", 2, 0, 2), peer.Stage("run1", 1, 0, 2),
                                   peer.Stage("run1", 2, 1, 2)], ids=["run", "epoch", "attempt"])
def test_a_block_of_another_run_epoch_or_attempt_is_refused(servers, stage):
    with pytest.raises(flight.FlightUnauthenticatedError, match="a task of another stage attempt"):
        put(servers[0], np.ones((4, 3), np.float32), stage=stage)
    with pytest.raises(peer.PeerError, match=rf"a stray W' block from task 1 at 127\.0\.0\.1:1 .*belongs to run "
                                             rf"{stage.run} epoch {stage.epoch} attempt {stage.attempt}"):
        servers[0].take(0, 1, 3, (4, 3), timeout=10)


def test_a_block_of_an_older_protocol_is_refused(servers):
    # an executor with protocol 2 (CRC-32) beside one with protocol 3 (XXH3-64): refused by
    # version, before any byte is checked against a checksum the two ends compute differently
    with pytest.raises(flight.FlightUnauthenticatedError, match="a task of another stage attempt"):
        put(servers[0], np.ones((4, 3), np.float32), damage={"v": peer.PROTOCOL - 1})
    with pytest.raises(peer.PeerError, match=rf"\(protocol {peer.PROTOCOL - 1}\), this server .*\(protocol "
                                             rf"{peer.PROTOCOL}\)"):
        servers[0].take(0, 1, 3, (4, 3), timeout=10)


def test_a_block_from_a_task_that_is_not_the_neighbour_is_refused():
    stage = peer.Stage("run1", 2, 0, 3)
    server = peer.BlockServer.start("127.0.0.1", (0, 0), stage, 0, SECRET)
    try:
        with pytest.raises(flight.FlightServerError, match="only task 1"):
            put(server, np.ones((4, 3), np.float32), stage=stage, sender=2)
        with pytest.raises(peer.PeerError, match="a stray W' block 3 .* from task 2 at"):
            server.take(0, 1, 3, (4, 3), timeout=10)
    finally:
        server.shutdown()


def test_the_same_block_twice_is_refused(servers):
    put(servers[0], np.ones((4, 3), np.float32))
    with pytest.raises(flight.FlightServerError, match="handed over already"):
        put(servers[0], np.ones((4, 3), np.float32))


def test_something_else_on_the_port_is_a_stray(servers):
    client = peer.connect(servers[0].address)
    try:
        with pytest.raises(flight.FlightUnauthenticatedError, match="not a sparkw2v message"):
            writer, _ = client.do_put(flight.FlightDescriptor.for_command(b"hello"), peer.SCHEMA)
            writer.close()
    finally:
        client.close()
    with pytest.raises(peer.PeerError, match="a stray W' block from ipv4:127.0.0.1:"):
        servers[0].check()


def test_an_abort_stops_the_wait_and_a_forged_one_is_a_stray(servers):
    exchange = peer.PeerExchange(servers[1], [peer.Peer(t, servers[t].address, f"h{t}", False) for t in range(2)],
                                 SECRET, timeout=10)
    try:
        exchange.abort({"reason": "nan"})
        with pytest.raises(Aborted, match="task 1 stopped the epoch"):
            servers[0].take(0, 1, 3, (4, 3), timeout=10)
    finally:
        exchange.sender.join()
    forged = peer.PeerExchange.__new__(peer.PeerExchange)
    forged.server, forged.task, forged.peers, forged._secret, forged.local = servers[0], 0, exchange.peers, "x", None
    forged._everyone = None
    forged.abort({})  # to task 1, with the wrong secret
    with pytest.raises(peer.PeerError, match="stray abort message from task 0 .* wrong secret"):
        servers[1].check()


def test_the_wait_for_a_block_times_out_naming_the_neighbour(servers):
    with pytest.raises(TimeoutError, match="task 0 of 2 waited 0 s for W' block 3 .* neighbour task 1 stopped"):
        servers[0].take(0, 1, 3, (4, 3), timeout=0.2)


def test_the_server_listens_on_its_address_only(servers):
    port = servers[0].port
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    with pytest.raises(ConnectionRefusedError):  # another address of this machine (loopback)
        socket.create_connection(("127.0.0.2", port), timeout=5)
    listening = [line.split()[1] for line in open("/proc/net/tcp").read().splitlines()[1:]
                 if line.split()[3] == "0A"] + [line.split()[1] for line in open("/proc/net/tcp6").read().splitlines()[1:]
                                                 if line.split()[3] == "0A"]
    ours = [a for a in listening if int(a.rsplit(":", 1)[1], 16) == port]
    assert ours and all(a.split(":")[0] in ("0100007F", "0000000000000000FFFF00000100007F") for a in ours), ours


def test_servers_take_ports_of_the_range_and_say_when_none_is_free():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
    lo, hi = base, base + 1
    first = second = None
    try:
        first = peer.BlockServer.start("127.0.0.1", (lo, hi), STAGE, 0, SECRET)
        second = peer.BlockServer.start("127.0.0.1", (lo, hi), STAGE, 1, SECRET)
        assert {first.port, second.port} == {lo, hi}
        with pytest.raises(peer.PeerError, match=rf"could not listen on a port in {lo}-{hi} of 127\.0\.0\.1 .*"
                                                 r"widen peer_ports"):
            peer.BlockServer.start("127.0.0.1", (lo, hi), STAGE, 2, SECRET)
    finally:
        for server in (first, second):
            if server is not None:
                server.shutdown()


def test_the_secret_is_in_no_repr():
    from sparkw2v.schedule import Schedule
    from sparkw2v.trainer import _EpochJob

    job = _EpochJob(0, Schedule(1, 1, 2, 0.1, 0.01, 1), 10, 2, 4, 2, 2, 0.75, BlockStore("/tmp/x"), "r", 1.0,
                    ring="peer", peer_secret=SECRET)
    assert SECRET not in repr(job) and "peer_secret" not in repr(job)
    server = peer.BlockServer.start("127.0.0.1", (0, 0), STAGE, 0, SECRET)
    try:
        assert SECRET not in repr(server)
    finally:
        server.shutdown()


def test_host_ids_tell_shared_memory_apart(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a1, a2 = peer.host_id(str(tmp_path / "a")), peer.host_id(str(tmp_path / "a"))
    b = peer.host_id(str(tmp_path / "b"))
    assert a1 == a2 != b  # one /dev/shm: one host; another /dev/shm (a namespace): another host
    assert a1.split("/")[0] == socket.gethostname()
    assert peer.host_id(str(tmp_path / "missing")) != peer.host_id(str(tmp_path / "missing"))


def book(tmp_path, stage=STAGE, secret=SECRET):
    import fsspec

    return peer.PhoneBook(fsspec.filesystem("file"), str(tmp_path / "peers"), secret, stage)


def test_two_tasks_announcing_one_address_are_refused(tmp_path):
    book(tmp_path).publish(peer.Peer(1, "127.0.0.1:5", "h", False))
    with pytest.raises(peer.PeerError, match="announced the same block server address"):
        peer.neighbours(book(tmp_path), peer.Peer(0, "127.0.0.1:5", "h", False), timeout=5)


def test_neighbours_find_each_other_in_the_phone_book_in_milliseconds(tmp_path):
    """Three tasks of a stage: each publishes and finds its two neighbours, and none waits
    anywhere near the second Spark's allGather costs; the last to publish is found as soon as
    it does."""
    stage = peer.Stage("run1", 2, 0, 3)
    me = [peer.Peer(t, f"127.0.0.1:{100 + t}", f"h{t}", t == 0) for t in range(3)]
    book(tmp_path, stage).publish(me[2])
    found, took = {}, {}

    def task(t):
        started = time.perf_counter()
        found[t] = peer.neighbours(book(tmp_path, stage), me[t], timeout=10)
        took[t] = time.perf_counter() - started

    threads = [threading.Thread(target=task, args=(t,)) for t in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert found[0] == found[1] == me  # sorted by task; in a ring of 3 everyone is a neighbour
    assert max(took.values()) < 0.5, took
    assert book(tmp_path, stage).known() == me


def test_a_phone_book_entry_of_another_stage_or_secret_is_refused_and_a_missing_one_times_out(tmp_path):
    entry = peer.Peer(1, "127.0.0.1:5", "h", False)
    book(tmp_path, secret="another" * 8).publish(entry)
    with pytest.raises(peer.PeerError, match="entry of task 1 .* not signed with this run's secret"):
        book(tmp_path).lookup(1, timeout=5)
    book(tmp_path, stage=peer.Stage("run1", 2, 1, 2)).publish(entry)  # the next attempt's
    with pytest.raises(peer.PeerError, match="belongs to task 1 of run run1 epoch 2 attempt 1, not to run run1 "
                                             "epoch 2 attempt 0"):
        book(tmp_path).lookup(1, timeout=5)
    (tmp_path / "peers" / "peer-t00001.json").write_text("hello")
    with pytest.raises(peer.PeerError, match="not a sparkw2v entry"):
        book(tmp_path).lookup(1, timeout=5)
    assert book(tmp_path).known() == []  # an abort skips what it cannot trust
    started = time.perf_counter()
    with pytest.raises(TimeoutError, match="task 0 of 2 did not say where its W' block server listens within 0 s"):
        book(tmp_path).lookup(0, timeout=0.3)
    assert time.perf_counter() - started < 1.0
    with pytest.raises(peer.PeerError, match="a stray"):  # the server's refusal stops the wait
        book(tmp_path).lookup(0, timeout=5, interrupt=lambda: (_ for _ in ()).throw(peer.PeerError("a stray")))


# ---------------------------------------------------------------------------- rings of tasks

def ring_over_flight(P, R, T, hosts, shm_root=None, epoch=0, hot_words=0):
    """One epoch with T tasks in threads, each with its own block server; ``hosts[t]`` is task
    t's host id: tasks of one host hand blocks through files in ``shm_root`` (mapped, as in
    /dev/shm) when it is given, others over Flight. With ``hot_words`` each task holds its own
    copy of the replicated head, as ``test_worker.run_tasks`` makes it (``heads`` returns them)."""
    schedule, layout, tables, pairs, W, Wp = epoch_inputs(P, R, epoch=epoch, hot_words=hot_words)
    head_W = kernel.init_rows(np.arange(hot_words), 12, 3)
    heads = {t: Head.start(head_W, np.zeros_like(head_W), P) if hot_words else None for t in range(T)}
    stage = peer.Stage("ring", epoch, 0, T)
    barrier = threading.Barrier(T)
    reports, errors, held, exchanges = {}, [], {}, {}
    import fsspec
    import tempfile

    book_root = tempfile.mkdtemp(prefix="sparkw2v-book-")

    def run(t):
        try:
            server = peer.BlockServer.start("127.0.0.1", (0, 0), stage, t, SECRET)
            me = peer.Peer(t, server.address, hosts[t], shm_root is not None)
            peers = peer.neighbours(peer.PhoneBook(fsspec.filesystem("file"), book_root, SECRET, stage), me, 60)
            local = (BlockStore(shm_root).exchange("ring", epoch, 0, t, T, timeout=60, same_host=True)
                     if shm_root is not None else None)
            exchange = exchanges[t] = peer.PeerExchange(server, peers, SECRET, 60, local,
                                                        force_network=shm_root is None)
            mine = list(owned_blocks(t, T, P))
            Wt = {k: W[k] for k in mine}
            Wpt = {k: Wp[k] for k in mine}
            reports[t] = worker.train_epoch(t, T, epoch, schedule, layout, Wt, Wpt, {k: pairs[k] for k in mine},
                                            tables, 3, 5, exchange, head=heads[t])
            exchange.flush()
            held[t] = {j: np.array(rows) for j, rows in Wpt.items()}
            barrier.wait(timeout=60)  # as Spark's tasks: the server lives until the task ends
            exchange.close()
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(t,)) for t in range(T)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    shutil.rmtree(book_root, ignore_errors=True)
    assert not errors, errors
    ring_over_flight.heads = heads
    return W, {j: rows for t in range(T) for j, rows in held[t].items()}, reports, exchanges


@pytest.mark.parametrize("P,T", [(4, 2), (6, 3)])
def test_a_ring_over_flight_equals_one_task(P, T):
    W1, Wp1, _, _ = run_tasks(P, 3, 1)
    WT, WpT, reports, exchanges = ring_over_flight(P, 3, T, hosts=["one"] * T)
    for k in range(P):
        np.testing.assert_array_equal(W1[k], WT[k])
        np.testing.assert_array_equal(Wp1[k], WpT[k])
    sent = sum(e.bytes_peer for e in exchanges.values())
    assert sent == sum(r.bytes_sent for r in reports.values()) == sum(e.server.bytes_received for e in exchanges.values()) > 0
    assert all(e.bytes_shared_memory == 0 for e in exchanges.values())


def test_tasks_of_one_host_use_shared_memory_and_others_the_network(tmp_path):
    """Tasks 0 and 1 on one host, task 2 on another: 1 -> 0 through shared memory (mapped
    files), 0 -> 2 and 2 -> 1 over Flight (a mapped block leaving the host: its file goes)."""
    W1, Wp1, _, _ = run_tasks(6, 3, 1)
    WT, WpT, reports, exchanges = ring_over_flight(6, 3, 3, hosts=["A", "A", "B"], shm_root=str(tmp_path / "shm"))
    for k in range(6):
        np.testing.assert_array_equal(W1[k], WT[k])
        np.testing.assert_array_equal(Wp1[k], WpT[k])
    assert exchanges[1].send_local and exchanges[0].receive_local
    assert not exchanges[0].send_local and not exchanges[2].send_local
    assert exchanges[1].bytes_shared_memory > 0 and exchanges[1].bytes_peer == 0
    assert exchanges[0].bytes_peer > 0 and exchanges[2].bytes_peer > 0
    # nothing in transit, each task removed the blocks it held, and the last one the directories
    assert not (tmp_path / "shm").exists(), list((tmp_path / "shm").rglob("*"))


def test_a_head_combined_over_flight_and_shared_memory_equals_one_task(tmp_path):
    """The head's all-reduce rides the ring's links: tasks 0 and 1 on one host (shared memory),
    task 2 on another (Flight); W, W' and every task's head equal one task's bit for bit, and
    no packet is left in shared memory."""
    W1, Wp1, rep1, _ = run_tasks(6, 3, 1, hot_words=6)
    head1 = run_tasks.heads[0]
    WT, WpT, reports, exchanges = ring_over_flight(6, 3, 3, hosts=["A", "A", "B"], shm_root=str(tmp_path / "shm"),
                                                   hot_words=6)
    for k in range(6):
        np.testing.assert_array_equal(W1[k].view(np.uint32), WT[k].view(np.uint32))
        np.testing.assert_array_equal(Wp1[k].view(np.uint32), WpT[k].view(np.uint32))
    for head in ring_over_flight.heads.values():
        np.testing.assert_array_equal(head.W.view(np.uint32), head1.W.view(np.uint32))
        np.testing.assert_array_equal(head.Wp.view(np.uint32), head1.Wp.view(np.uint32))
    assert all(r.head_bytes_sent > 0 for r in reports.values())
    assert exchanges[1].bytes_shared_memory > 0 and exchanges[2].bytes_peer > 0
    assert not (tmp_path / "shm").exists(), list((tmp_path / "shm").rglob("*"))


def test_a_hosts_ring_directory_clears_what_failed_runs_left(tmp_path, monkeypatch):
    from sparkw2v import trainer
    from sparkw2v.schedule import Schedule

    monkeypatch.setattr(trainer, "SHARED_MEMORY", str(tmp_path))
    stale, live = tmp_path / "sparkw2v-ring-old" / "run-old" / "e0000-a0", tmp_path / "sparkw2v-ring-live" / "x"
    for d in (stale, live):
        d.mkdir(parents=True)
        (d / "h-0001").write_bytes(b"1")
    for d in (stale, stale.parent, stale.parent.parent):
        os.utime(d, (1, 1))
    earlier = tmp_path / "sparkw2v-ring-new" / "run-new" / "e0002-a0"
    earlier.mkdir(parents=True)
    job = trainer._EpochJob(3, Schedule(4, 1, 2, 0.1, 0.01, 1), 10, 2, 4, 2, 2, 0.75, BlockStore(str(tmp_path / "w")),
                            "new", 60.0, attempt=1, ring="hybrid")
    exchange = trainer._host_ring(job, 0)
    assert exchange.directory == str(tmp_path / "sparkw2v-ring-new" / "run-new" / "e0003-a1") and exchange.zero_copy
    assert not (tmp_path / "sparkw2v-ring-old").exists()  # unchanged for an hour: a dead run's
    assert (live / "h-0001").exists()  # another run, alive
    assert not earlier.exists()  # this run's earlier epoch


def test_a_stray_block_stops_a_wait_in_shared_memory_too(tmp_path, servers):
    local = BlockStore(str(tmp_path)).exchange("r", 0, 0, 0, 2, timeout=30, same_host=True)
    peers = [peer.Peer(t, servers[t].address, "A", True) for t in range(2)]
    exchange = peer.PeerExchange(servers[0], peers, SECRET, 30, local)
    assert exchange.receive_local
    threading.Timer(0.3, lambda: _quietly(put, servers[0], np.ones((4, 3), np.float32), secret="bad")).start()
    with pytest.raises(peer.PeerError, match="wrong secret"):
        exchange.receive(0, 1, 3, (4, 3))


def _quietly(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception:
        pass


def test_config_keys_of_the_transport():
    from sparkw2v.config import ConfigError, TrainConfig, load_config, parse_port_range

    assert parse_port_range("0") == (0, 0)
    assert parse_port_range("40000-40100") == (40000, 40100)
    assert parse_port_range("41000") == (41000, 41000)
    for bad in ("", "x", "9-3", "0-5", "1-70000", "-1"):
        assert parse_port_range(bad) is None, bad
        with pytest.raises(ConfigError, match="'peer_ports' has invalid value"):
            TrainConfig(peer_ports=bad)
    with pytest.raises(ConfigError, match="'ring' has invalid value 'net': it must be 'auto' or 'peer' or 'store'"):
        TrainConfig(ring="net")
    conf = load_config(os.path.join(os.path.dirname(__file__), "..", "..", "conf", "default.toml"))
    assert (conf.ring, conf.peer_ports) == ("auto", "0")


def test_transport_settings_do_not_bar_a_resume():
    from sparkw2v.config import TrainConfig
    from sparkw2v.trainer import _settings, resolve_ring

    assert _settings(TrainConfig(ring="peer", peer_ports="1-2"), 4) == _settings(TrainConfig(), 4)
    assert resolve_ring("auto", "local[3]", object()) == "shared_memory"
    assert resolve_ring("auto", "local[3]", None) == "store"
    assert resolve_ring("auto", "spark://h:7077", None) == "hybrid"
    assert resolve_ring("peer", "local[3]", None) == "peer"
    assert resolve_ring("store", "yarn", None) == "store"
