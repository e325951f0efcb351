#!/usr/bin/env python3
"""End-to-end latency tools for bench/latency.sh.

  e2e.py sink --port-file F        a Rootly stand-in that timestamps arrivals
  e2e.py client --url U --sink S   paced webhook sender; prints the results
  e2e.py hold --port-file F        accepts connections and never answers

Clock: the client writes time.monotonic_ns() (CLOCK_MONOTONIC, one clock for
the whole machine) into the webhook payload as "bench_sent_ns"; the module
copies the original payload into the Rootly alert (attributes.data), and the
sink subtracts it from its own monotonic clock once the whole alert request
has been read.  Latency = webhook POST written by the client -> the alert
request fully received by the sink (includes the group commit, the claim, the
libcurl send and the sink's own read).
"""

import argparse
import asyncio
import json
import os
import socket
import sys
import time


# ---------------------------------------------------------------- sink --

class Sink:
    def __init__(self):
        self.lat = []           # ns, one per alert that carried a stamp
        self.count = 0          # every request
        self.seq = 0

    async def handle(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                length = 0
                for h in lines[1:]:
                    if h.lower().startswith("content-length:"):
                        length = int(h.split(":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                now = time.monotonic_ns()
                self.count += 1
                if method == "GET" and path.startswith("/stats"):
                    out = json.dumps({"count": self.count,
                                      "latencies_ns": self.lat}).encode()
                    status = b"200 OK"
                elif method == "POST" and path.startswith("/reset"):
                    self.lat = []
                    self.count = 0
                    out = b"{}"
                    status = b"200 OK"
                else:
                    try:
                        d = json.loads(body)
                        sent = d["data"]["attributes"]["data"]["bench_sent_ns"]
                        self.lat.append(now - int(sent))
                    except (ValueError, KeyError, TypeError):
                        pass
                    self.seq += 1
                    out = ('{"data":{"id":"alert-%d","type":"alerts"}}'
                           % self.seq).encode()
                    status = b"201 Created"
                writer.write(b"HTTP/1.1 " + status +
                             b"\r\nContent-Type: application/vnd.api+json"
                             b"\r\nContent-Length: " + str(len(out)).encode() +
                             b"\r\n\r\n" + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError,
                asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def serve(handler, port_file):
    server = await asyncio.start_server(handler, "127.0.0.1", 0,
                                        limit=4 * 1024 * 1024, backlog=512)
    port = server.sockets[0].getsockname()[1]
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, port_file)
    async with server:
        await server.serve_forever()


async def hold(reader, writer):
    # read and never answer: the module's transfer waits for its timeout
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass
    writer.close()


# -------------------------------------------------------------- client --

def http_request(sock, buf, req):
    """send one request on a keep-alive socket; returns (status, body, buf)"""
    sock.sendall(req)
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = 0
    for h in lines[1:]:
        if h.lower().startswith("content-length:"):
            length = int(h.split(":", 1)[1])
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return status, buf[:length], buf[length:]


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1,
                   int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def client(a):
    host, port_path = a.url.split("//", 1)[1].split("/", 1)
    h, p = host.split(":")
    path = "/" + port_path
    with open(a.fixture) as f:
        payload = json.load(f)
    prefix = "lat%d.%d" % (os.getpid(), time.time_ns() % 1000000)

    sock = socket.create_connection((h, int(p)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    resp = []
    bad = 0
    interval = 1.0 / a.rate
    start = time.monotonic()

    for i in range(a.count):
        due = start + i * interval
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        payload["ALERT.entity_id"] = "bench/%s-%d" % (prefix, i)
        payload["STATE.ENTITY_ID"] = payload["ALERT.entity_id"]
        payload["INCIDENT.INCIDENT_ID"] = str(100000 + i)
        sent = time.monotonic_ns()
        payload["bench_sent_ns"] = str(sent)
        body = json.dumps(payload).encode()
        req = (("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json"
                "\r\nX-Webhook-Secret: %s\r\nContent-Length: %d\r\n\r\n")
               % (path, host, a.secret, len(body))).encode() + body
        status, rbody, buf = http_request(sock, buf, req)
        resp.append(time.monotonic_ns() - sent)
        if status != 202:
            bad += 1
            if bad <= 3:
                print("unexpected reply %d: %r" % (status, rbody[:200]),
                      file=sys.stderr)
    elapsed = time.monotonic() - start
    sock.close()

    # wait for the sink to have them all
    sh, sp = a.sink.split("//", 1)[1].rstrip("/").split(":")
    deadline = time.monotonic() + a.wait
    while True:
        s = socket.create_connection((sh, int(sp)))
        _, sbody, _ = http_request(
            s, b"", b"GET /stats HTTP/1.1\r\nHost: sink\r\n\r\n")
        s.close()
        stats = json.loads(sbody)
        if len(stats["latencies_ns"]) >= a.count - bad or \
                time.monotonic() > deadline:
            break
        time.sleep(0.1)

    e2e = sorted(stats["latencies_ns"])
    resp.sort()
    us = lambda ns: ns / 1000.0
    out = {
        "sent": a.count, "rate": a.rate, "send_seconds": round(elapsed, 2),
        "non202": bad, "arrived": len(e2e),
        "e2e_p50_us": us(pct(e2e, 50)), "e2e_p90_us": us(pct(e2e, 90)),
        "e2e_p99_us": us(pct(e2e, 99)), "e2e_max_us": us(e2e[-1]) if e2e else None,
        "reply_p50_us": us(pct(resp, 50)), "reply_p99_us": us(pct(resp, 99)),
        "reply_max_us": us(resp[-1]),
    }
    print("BENCH " + " ".join("%s=%s" % (k, (round(v, 1) if isinstance(v, float)
                                              else v)) for k, v in out.items()))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sink")
    s.add_argument("--port-file", required=True)
    h = sub.add_parser("hold")
    h.add_argument("--port-file", required=True)
    c = sub.add_parser("client")
    c.add_argument("--url", required=True)
    c.add_argument("--sink", required=True)
    c.add_argument("--fixture", required=True)
    c.add_argument("--secret", default="s3cret")
    c.add_argument("--rate", type=float, default=200)
    c.add_argument("--count", type=int, default=2000)
    c.add_argument("--wait", type=float, default=15)
    a = ap.parse_args()
    if a.cmd == "sink":
        asyncio.run(serve(Sink().handle, a.port_file))
    elif a.cmd == "hold":
        asyncio.run(serve(hold, a.port_file))
    else:
        client(a)


if __name__ == "__main__":
    main()
