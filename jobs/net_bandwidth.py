"""Time TCP hand-overs of blocks between two hosts: bandwidth and fixed cost of a link.

One side serves, the other sends blocks of given sizes; the server acknowledges each block once
every byte has arrived, so a measured time is what a neighbour waits from the first byte sent to
the block being whole at the other end (one connection for all blocks, as a block server keeps
one per neighbour). A least-squares fit of time = h0 + bytes / bw over the sizes gives the fixed
cost h0 (seconds) and the bandwidth bw (bytes/second). Bounded: the server stops after
``--timeout`` seconds without a connection or after ``--max-bytes`` received, the sender refuses
more than 4 GiB in all, and every socket operation times out after 60 s.

Between two hosts of deploy/hosts.sh:

    deploy/hosts.sh exec 1 python jobs/net_bandwidth.py serve --bind 198.18.0.11 --port 5201 --once &
    deploy/hosts.sh exec 2 python jobs/net_bandwidth.py send --to 198.18.0.11:5201 \\
        --sizes 100K,1M,10M,100M --repeat 5

``send`` prints one JSON object on stdout: per size the median seconds and Gbit/s, the fit
(h0 in ms, bw in Gbit/s), and the round trip of an 8-byte message (ms). Exit code 2 with one
line on stderr when the address cannot be reached or the arguments are out of range.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import struct
import sys
import time

HEADER = struct.Struct("!Q")  # a block's length in bytes (0: a ping, answered at once)
ACK = b"k"
CHUNK = 1 << 20
MAX_TOTAL = 4 << 30
SOCKET_TIMEOUT = 60.0


def parse_size(text: str) -> int:
    """'100K' / '1M' / '2G' / '4096' -> bytes (powers of 1000: 1M = 1,000,000 bytes)."""
    units = {"K": 10**3, "M": 10**6, "G": 10**9}
    text = text.strip().upper()
    scale = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    try:
        size = int(float(number) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not like 100K, 1M or 4096") from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"size {text!r} must be at least 1 byte")
    return size


def _recv_exact(conn: socket.socket, n: int, buf: bytearray) -> None:
    """Read exactly ``n`` bytes (into ``buf`` reused, chunks of at most len(buf)); EOFError if the peer closes."""
    view = memoryview(buf)
    while n > 0:
        got = conn.recv_into(view[:min(n, len(buf))])
        if got == 0:
            raise EOFError("peer closed the connection")
        n -= got


def serve(bind: str, port: int, timeout: float, max_bytes: int, once: bool = False) -> int:
    """Accept connections one at a time, read blocks, acknowledge each; return bytes received.
    ``once``: stop after the first connection closes."""
    total = 0
    buf = bytearray(CHUNK)
    with socket.create_server((bind, port)) as server:
        server.settimeout(timeout)
        print(f"net_bandwidth: serving on {bind}:{port}", file=sys.stderr, flush=True)
        while total < max_bytes:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                break
            with conn:
                conn.settimeout(SOCKET_TIMEOUT)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    while total < max_bytes:
                        head = bytearray(HEADER.size)
                        _recv_exact(conn, HEADER.size, head)
                        (n,) = HEADER.unpack(head)
                        _recv_exact(conn, n, buf)
                        total += n
                        conn.sendall(ACK)
                except (EOFError, ConnectionError, TimeoutError):
                    pass
            if once:
                break
    return total


def _hand_over(conn: socket.socket, payload: memoryview, n: int) -> float:
    """Seconds from the first byte of an n-byte block sent to its acknowledgement."""
    start = time.perf_counter()
    conn.sendall(HEADER.pack(n))
    sent = 0
    while sent < n:
        sent += conn.send(payload[:min(n - sent, len(payload))])
    if conn.recv(1) != ACK:
        raise ConnectionError("the server closed the connection before acknowledging a block")
    return time.perf_counter() - start


def fit(sizes: list[int], seconds: list[float]) -> tuple[float, float]:
    """Least squares of seconds = h0 + size / bw: (h0 seconds, bw bytes/second)."""
    mx, my = statistics.fmean(sizes), statistics.fmean(seconds)
    sxx = sum((x - mx) ** 2 for x in sizes)
    slope = sum((x - mx) * (y - my) for x, y in zip(sizes, seconds)) / sxx
    return my - slope * mx, (1.0 / slope if slope > 0 else float("inf"))


def send(host: str, port: int, sizes: list[int], repeat: int) -> dict:
    """Hand over each size ``repeat`` times (after one warm-up) and fit h0 and bw."""
    payload = memoryview(bytes(range(256)) * (CHUNK // 256))
    with socket.create_connection((host, port), timeout=SOCKET_TIMEOUT) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pings = [_hand_over(conn, payload, 0) for _ in range(50)]
        rows, xs, ys = [], [], []
        for size in sizes:
            _hand_over(conn, payload, size)  # warm-up: TCP window, page cache
            times = [_hand_over(conn, payload, size) for _ in range(repeat)]
            xs += [size] * repeat
            ys += times
            med = statistics.median(times)
            rows.append({"bytes": size, "median_s": round(med, 6), "min_s": round(min(times), 6),
                         "gbit_per_s": round(size * 8 / med / 1e9, 3)})
    h0, bw = fit(xs, ys) if len(set(xs)) > 1 else (float("nan"), float("nan"))
    return {"to": f"{host}:{port}", "round_trip_ms": round(statistics.median(pings) * 1e3, 4),
            "blocks": rows, "fit": {"h0_ms": round(h0 * 1e3, 4), "bw_gbit_per_s": round(bw * 8 / 1e9, 3)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="receive blocks and acknowledge each")
    s.add_argument("--bind", required=True, help="address to listen on (the host's own)")
    s.add_argument("--port", type=int, default=5201)
    s.add_argument("--timeout", type=float, default=120.0, help="stop after this many seconds without a connection")
    s.add_argument("--max-bytes", type=parse_size, default=MAX_TOTAL, help="stop after receiving this many bytes")
    s.add_argument("--once", action="store_true", help="stop when the first sender disconnects")
    c = sub.add_parser("send", help="send blocks, time each hand-over, fit h0 and bw")
    c.add_argument("--to", required=True, help="HOST:PORT of a server")
    c.add_argument("--sizes", default="100K,1M,10M,100M", help="comma-separated block sizes (K, M, G: powers of 1000)")
    c.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            total = serve(args.bind, args.port, args.timeout, args.max_bytes, args.once)
            print(json.dumps({"received_bytes": total}))
            return 0
        sizes = [parse_size(x) for x in args.sizes.split(",") if x.strip()]
        if not 1 <= args.repeat <= 100:
            parser.error("--repeat must be from 1 to 100")
        if sum(sizes) * (args.repeat + 1) > MAX_TOTAL:
            parser.error(f"sizes x (repeat + 1) exceed {MAX_TOTAL} bytes: send fewer or smaller blocks")
        host, _, port = args.to.rpartition(":")
        print(json.dumps(send(host, int(port), sizes, args.repeat)))
        return 0
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    except OSError as exc:
        print(f"net_bandwidth: error: {exc}; is the server running and the address on a link of this host?",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
