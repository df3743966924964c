#!/usr/bin/python3
"""Benchmark of the SSE route (docs/events.md, "Over HTTP"): N clients on
GET /api/v1/events/stream at once, from one process (non-blocking
sockets, one epoll loop). Prints the server's RSS and thread count before and after the
clients connect, then publishes events one at a time (POST /api/v1/events)
and prints the delivery latency to all clients, p50/p99/max, measured from
just before each POST to the arrival of its frame at each client (so it
includes the commit).

Not a test: nothing here is asserted. Run it with `scripts/bench.sh http-sse`
or directly: bench/http_sse.py --server build/beebeebrain [--clients 1000]
[--events 20]."""

import argparse
import json
import re
import os
import resource
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post_event(base, n):
    body = json.dumps({"project_id": 1, "event_type": "run.log", "payload": {"n": n}}).encode()
    req = urllib.request.Request(base + "/api/v1/events", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["id"]


ID_LINE = re.compile(rb"(?m)^id: (\d+)$")


class Streams:
    """The clients: blocking sockets while they connect, then one epoll loop
    in a thread reads them all (whole chunks, one regex per chunk: the
    client must cost far less than the server for the figures to be the
    server's; the chunked encoding's size lines never start with "id: ")."""

    def __init__(self, port, after, n):
        self.socks = {}
        self.arrivals = {}  # fd -> {event id: monotonic time}
        self.count = {}  # event id -> clients that have it
        self.all_have = {}  # event id -> threading.Event
        self.lock = threading.Lock()
        self.n = n
        request = (f"GET /api/v1/events/stream?project_id=1&heartbeat_seconds=60&last_event_id={after} "
                   "HTTP/1.1\r\nHost: bench\r\n\r\n").encode()
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=60)
            s.sendall(request)
            self.socks[s.fileno()] = s
        for s in self.socks.values():
            got = b""
            while b": heartbeat" not in got:  # headers and the first heartbeat
                got += s.recv(65536)
            s.setblocking(False)
            self.arrivals[s.fileno()] = {}
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def waiter(self, eid):
        with self.lock:
            return self.all_have.setdefault(eid, threading.Event())

    def loop(self):
        ep = select.epoll()
        for fd in self.socks:
            ep.register(fd, select.EPOLLIN)
        while not self.stop:
            for fd, _ in ep.poll(0.2):
                try:
                    data = self.socks[fd].recv(65536)
                except BlockingIOError:
                    continue
                now = time.monotonic()
                for m in ID_LINE.finditer(data):
                    eid = int(m.group(1))
                    self.arrivals[fd][eid] = now
                    with self.lock:
                        self.count[eid] = self.count.get(eid, 0) + 1
                        if self.count[eid] == self.n:
                            self.all_have.setdefault(eid, threading.Event()).set()
        ep.close()

    def close(self):
        self.stop = True
        self.thread.join()
        for s in self.socks.values():
            s.close()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench(args, port, pid, base):
    rss0, threads0 = proc_status(pid)
    after = post_event(base, -1)
    streams = Streams(port, after, args.clients)
    time.sleep(1.0)
    rss1, threads1 = proc_status(pid)
    print(f"clients            {args.clients} (all connected and streaming)")
    print(f"server RSS         {rss0 / 1024:.1f} MiB before, {rss1 / 1024:.1f} MiB with the clients: "
          f"+{(rss1 - rss0) / 1024:.1f} MiB ({(rss1 - rss0) / args.clients:.1f} KiB per stream)")
    print(f"server threads     {threads0} before, {threads1} with the clients")

    sent = {}
    cpu0, own0 = cpu_seconds(pid), time.process_time()
    for n in range(args.events):
        t0 = time.monotonic()
        eid = post_event(base, n)
        sent[eid] = t0
        streams.waiter(eid).wait(10)
        time.sleep(0.05)
    cpu1, own1 = cpu_seconds(pid), time.process_time()
    latencies, firsts, missing = [], [], 0
    for eid, t0 in sent.items():
        got = [a[eid] - t0 for a in streams.arrivals.values() if eid in a]
        missing += args.clients - len(got)
        latencies += [g * 1000 for g in got]
        firsts.append(min(got) * 1000)
    print(f"events             {args.events}, each to {args.clients} clients; {missing} deliveries missing")
    print(f"delivery latency   p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
          f"max {max(latencies):.1f} ms (POST to arrival at the client)")
    print(f"first client       p50 {percentile(firsts, 50):.1f} ms (POST to the first client's arrival)")
    print(f"CPU per event      server {(cpu1 - cpu0) / args.events * 1000:.1f} ms, "
          f"this client process {(own1 - own0) / args.events * 1000:.1f} ms (for all {args.clients} streams)")
    rss2, threads2 = proc_status(pid)
    print(f"server RSS after   {rss2 / 1024:.1f} MiB, {threads2} threads")
    streams.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="build/beebeebrain")
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--events", type=int, default=20)
    args = ap.parse_args()
    args.server = os.path.abspath(args.server)  # the server runs in a temp dir
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 2 * args.clients + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # the server inherits it
    if want < args.clients + 64:
        sys.exit(f"open files limited to {want}: raise the hard limit for {args.clients} clients")
    with tempfile.TemporaryDirectory() as tmp:
        ports = [free_port() for _ in range(3)]
        base = f"http://127.0.0.1:{ports[2]}"
        log = open(os.path.join(tmp, "server.log"), "wb")
        proc = subprocess.Popen([args.server, "serve", "--db", os.path.join(tmp, "bench.db"),
                                 "--rpc", f"tcp://127.0.0.1:{ports[0]}", "--events", f"tcp://127.0.0.1:{ports[1]}",
                                 "--http", base], cwd=tmp, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1).read()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        sys.exit("the server did not start; its log is in " + log.name)
                    time.sleep(0.05)
            bench(args, ports[2], proc.pid, base)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
