#!/usr/bin/env python3
"""Where each microsecond goes: perf samples (perf script -F tid,ip,sym,
with call graphs) split by thread (the worker's event loop, its other
threads) and attributed to the phase of the innermost matching frame.

  phases.py PERF_SCRIPT_OUTPUT LOOP_TID LOOP_US THREAD_US

LOOP_US / THREAD_US: CPU per webhook of the loop and of the other threads
(targets.sh measures them from /proc); each phase's share of its thread's
samples times that figure is its cost per webhook.
"""
import sys
from collections import Counter

# (phase, frame name prefixes): the first phase in this order with a
# frame anywhere in the sample's call chain takes the sample
LOOP = [
    ("secret check (SHA-256 of both)", ("ngx_http_victorops_auth_secret",
                                        "ngx_http_victorops_secret_match")),
    ("delivery hash (SHA-256)", ("ngx_http_victorops_event_hash",)),
    ("duplicate index (shared rbtree)", ("ngx_http_victorops_dedup_",)),
    ("reply (after the commit)", ("ngx_http_victorops_committed",
                                  "ngx_http_victorops_reply",
                                  "ngx_http_victorops_webhook_queued")),
    ("parse (yajl)", ("ngx_http_victorops_parser_", "yajl_",
                      "ngx_http_victorops_webhook_parse",
                      "ngx_http_victorops_webhook_json")),
    ("classify", ("ngx_http_victorops_classify", "ngx_http_victorops_payload",
                  "ngx_http_victorops_webhook_accept")),
    ("append (copy into the batch, post to the thread)",
     ("ngx_http_victorops_webhook_enqueue", "ngx_http_victorops_store_post",
      "ngx_http_victorops_store_task", "ngx_thread_task_post")),
    ("read the request body", ("ngx_http_read_client_request_body",
                               "ngx_http_do_read_client_request_body")),
    ("other module code", ("ngx_http_victorops_",)),
    ("nginx: request line, headers, keep-alive, events",
     ("ngx_", "epoll_wait", "__libc_start")),
]
THREAD = [
    ("INSERT of the job", ("ngx_http_victorops_store_insert",)),
    ("duplicate record", ("ngx_http_victorops_store_dedup_claim",
                          "ngx_http_victorops_store_dup")),
    ("checkpoint (own connection)", ("sqlite3_wal_checkpoint",
                                     "ngx_http_victorops_checkpoint")),
    ("COMMIT (WAL write)", ("ngx_http_victorops_store_tx",
                           "ngx_http_victorops_store_commit")),
    ("other store work", ("ngx_http_victorops_store", "sqlite3")),
    ("thread pool hand-off", ("ngx_thread", "start_thread", "clone")),
]


def samples(path):
    tid, frames = None, []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if tid is not None:
                    yield tid, frames
                tid, frames = None, []
            elif not line[0].isspace():
                tid = line.split()[0]
            else:
                parts = line.split(None, 1)
                frames.append(parts[1].split(" (")[0] if len(parts) > 1
                              else "")
    if tid is not None:
        yield tid, frames


def attribute(frames, table):
    for phase, prefixes in table:           # the table's order decides
        for fr in frames:
            if fr.startswith(prefixes):
                return phase
    return "unattributed (kernel or library without a module frame)"


def main():
    path, loop_tid, loop_us, thread_us = sys.argv[1:5]
    loop_us, thread_us = float(loop_us), float(thread_us)
    counts = {"loop": Counter(), "thread": Counter()}
    for tid, frames in samples(path):
        side = "loop" if tid == loop_tid else "thread"
        table = LOOP if side == "loop" else THREAD
        counts[side][attribute(frames, table)] += 1
    for side, us, table in (("loop", loop_us, LOOP),
                            ("thread", thread_us, THREAD)):
        total = sum(counts[side].values()) or 1
        print(f"| {side} ({us:.1f} µs per webhook) | share | µs |")
        print("|---|---:|---:|")
        order = [p for p, _ in table] + [
            "unattributed (kernel or library without a module frame)"]
        for phase in order:
            n = counts[side][phase]
            if n:
                print(f"| {phase} | {100 * n / total:.0f} % "
                      f"| {us * n / total:.1f} |")
        print()


if __name__ == "__main__":
    main()
