#!/usr/bin/env python3
"""Hostile escalation-policy (form) bodies against one nginx worker.

Each body has distinct keys in descending order (the worst case of an
insertion sort) and a made-up but well-formed X-VictorOps-Signature, so
it is refused only once the module has looked at it.  Reported: how long
each kind takes to be refused (request sent -> whole answer received),
and the latency of GET /ping on a keep-alive connection to the same
worker, idle and while attackers send hostile bodies back to back.

    form_dos.py --port N [--seconds 5] [--attackers 2] [--roomy]

--roomy: also the /roomy location (escalation_max_body 2m,
escalation_max_fields 1000000): a 1 MB body parsed, sorted and
HMAC-checked in full.  --legacy: a module without the caps (one request
of each kind, no /roomy, no timeout short of 300 s).
"""

import argparse
import socket
import statistics
import threading
import time

MADE_UP_SIG = 'AAECAwQFBgcICQoLDA0ODxAREhM='    # base64 of 20 bytes


def hostile(size, fields=None):
    """Distinct keys, descending; exactly `size` bytes."""
    if fields is None:
        n = size // 11 + 1
        parts = ['k%07d=x' % i for i in range(n, 0, -1)]
        body = '&'.join(parts)[:size]
        return body.rstrip('&').ljust(size, 'x').encode()
    # `fields` members sharing `size` bytes (keys descending too)
    per = size // fields
    parts = []
    for i in range(fields, 0, -1):
        key = 'k%05d=' % i
        parts.append(key + 'x' * (per - len(key) - 1))
    body = '&'.join(parts)
    return body.ljust(size, 'x').encode()


def head(path, length=None, chunked=False):
    h = ('POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n'
         'Content-Type: application/x-www-form-urlencoded\r\n'
         'X-VictorOps-Signature: %s\r\n' % (path, MADE_UP_SIG))
    if chunked:
        h += 'Transfer-Encoding: chunked\r\n'
    else:
        h += 'Content-Length: %d\r\n' % length
    return (h + '\r\n').encode()


def read_response(sock, deadline):
    buf = b''
    while b'\r\n\r\n' not in buf:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            raise IOError('closed before the response')
        buf += data
    hdr, rest = buf.split(b'\r\n\r\n', 1)
    status = int(hdr.split(b' ', 2)[1])
    length = 0
    for line in hdr.split(b'\r\n')[1:]:
        k, _, v = line.partition(b':')
        if k.strip().lower() == b'content-length':
            length = int(v)
    while len(rest) < length:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            break
        rest += data
    return status, rest[:length]


def attack(port, path, body, chunked=False, timeout=30.0):
    """One hostile request; (status, seconds until the whole answer)."""
    sock = socket.create_connection(('127.0.0.1', port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if chunked:
        data = b''.join(b'%x\r\n%s\r\n' % (len(body[i:i + 16384]), body[i:i + 16384])
                        for i in range(0, len(body), 16384)) + b'0\r\n\r\n'
        req = head(path, chunked=True) + data
    else:
        req = head(path, len(body)) + body

    def writer():
        try:
            sock.sendall(req)
        except OSError:
            pass            # refused and closed before the end: expected

    start = time.monotonic()
    w = threading.Thread(target=writer, daemon=True)
    w.start()
    try:
        status, _ = read_response(sock, start + timeout)
    except (OSError, IOError) as e:
        status = 'error: %s' % e
    elapsed = time.monotonic() - start
    sock.close()
    w.join(1)
    return status, elapsed


class Pinger(threading.Thread):
    """GET /ping every `interval` s on one keep-alive connection."""

    def __init__(self, port, interval=0.002):
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.samples = []
        self.errors = 0
        self.stop = threading.Event()

    def run(self):
        sock = None
        req = b'GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
        while not self.stop.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(('127.0.0.1', self.port))
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                start = time.monotonic()
                sock.sendall(req)
                status, _ = read_response(sock, start + 120)
                self.samples.append(time.monotonic() - start)
                if status != 200:
                    self.errors += 1
            except (OSError, IOError):
                self.errors += 1
                sock = None
            time.sleep(self.interval)


def ms(v):
    return '%.2f' % (v * 1000)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100.0 * len(values)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--seconds', type=float, default=5.0)
    ap.add_argument('--attackers', type=int, default=2)
    ap.add_argument('--roomy', action='store_true')
    ap.add_argument('--legacy', action='store_true')
    a = ap.parse_args()

    one_mb = hostile(1 << 20)
    max_size = hostile(65536, 256)          # the default caps, both reached
    kinds = [
        ('1 MB, Content-Length', '/hook', one_mb, False),
        ('1 MB, chunked', '/hook', one_mb, True),
        ('1 MB, chunked, 256 members of 4 KB', '/hook', hostile(1 << 20, 256),
         True),
        ('max size: 64 KB, 256 fields', '/hook', max_size, False),
        ('257 fields (4 KB)', '/hook', hostile(4096, 257), False),
    ]
    if a.roomy and not a.legacy:
        kinds.append(('1 MB, caps raised (2m, 10^6 fields)', '/roomy', one_mb, False))

    # idle ping latency
    p = Pinger(a.port)
    p.start()
    time.sleep(1.0)
    p.stop.set()
    p.join()
    idle = p.samples

    rows = []
    for name, path, body, chunked in kinds:
        if a.legacy:
            p = Pinger(a.port)
            p.start()
            status, t = attack(a.port, path, body, chunked, timeout=300)
            p.stop.set()
            p.join()
            rows.append((name, len(body), str(status), [t], p))
            continue

        # ping while `attackers` threads send this body back to back
        p = Pinger(a.port)
        p.start()
        times, statuses = [], set()
        lock = threading.Lock()
        end = time.monotonic() + a.seconds

        def attacker():
            while time.monotonic() < end:
                status, t = attack(a.port, path, body, chunked)
                with lock:
                    times.append(t)
                    statuses.add(str(status))

        threads = [threading.Thread(target=attacker) for _ in range(a.attackers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        p.stop.set()
        p.join()
        rows.append((name, len(body), '/'.join(sorted(statuses)), times, p))

    print('| hostile body | bytes | answer | requests | refused in p50 / max ms '
          '| /ping meanwhile p50 / p99 / max ms |')
    print('|---|---:|---|---:|---:|---:|')
    for name, size, status, times, pinger in rows:
        pings = ('%s / %s / %s (%d pings, %d errors)'
                 % (ms(pct(pinger.samples, 50)), ms(pct(pinger.samples, 99)),
                    ms(max(pinger.samples)), len(pinger.samples), pinger.errors)
                 if pinger and pinger.samples else '-')
        print('| %s | %d | %s | %d | %s / %s | %s |'
              % (name, size, status, len(times), ms(statistics.median(times)),
                 ms(max(times)), pings))
    print()
    print('idle /ping: p50 %s ms, p99 %s ms, max %s ms (%d pings)'
          % (ms(pct(idle, 50)), ms(pct(idle, 99)), ms(max(idle)), len(idle)))
    print('BENCH ' + ' '.join(
        'kind%d_p50_ms=%s kind%d_max_ms=%s' % (i, ms(statistics.median(r[3])), i, ms(max(r[3])))
        for i, r in enumerate(rows)))


if __name__ == '__main__':
    main()
