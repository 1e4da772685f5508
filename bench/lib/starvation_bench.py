#!/usr/bin/env python3
"""The campaign of issue 16 against a running daemon (bench/starvation.sh starts it).

Measures, with the Python standard library only:
  1. health and API latency alone (sequential requests);
  2. the same with 16 event streams held (4 viewers x 4, the per-user cap) and 8 `backup verify`
     calls of a FIFO repeated without pause by 2 operators (4 each, the per-user cap of slow calls);
  3. 48 clients at once (health and API, a new connection per request);
  4. wrong passwords for one user for 60 s: how many were answered 401 (looked at) before and
     between the 429 answers, and the Retry-After each 429 gave.
Prints a table and, with --json FILE, writes the figures. Latency is wall time per request,
connection included.
"""
import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time


def request(port, method, path, token=None, body=None, timeout=30):
    """One request on a new connection: (status, headers, body bytes, seconds)."""
    start = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    payload = r.read()
    c.close()
    return r.status, dict(r.getheaders()), payload, time.monotonic() - start


def login(port, user, password):
    status, _, body, _ = request(port, "POST", "/api/v1/auth/login",
                                 body={"user": user, "password": password})
    if status != 200:
        sys.exit(f"login of {user} answered {status}: {body[:200]!r}")
    return json.loads(body)["token"]


def summary(latencies):
    s = sorted(latencies)
    if not s:
        return {"n": 0}
    p = lambda q: s[min(len(s) - 1, int(q * len(s)))]
    return {"n": len(s), "p50_ms": round(p(0.50) * 1000, 1), "p99_ms": round(p(0.99) * 1000, 1),
            "worst_ms": round(s[-1] * 1000, 1)}


def sequential(port, path, token, n):
    out, errors = [], 0
    for _ in range(n):
        status, _, _, t = request(port, "GET", path, token)
        out.append(t)
        errors += status != 200
    r = summary(out)
    r["non_200"] = errors
    return r


class Stream(threading.Thread):
    """GET /api/v1/events held open, read until stopped."""

    def __init__(self, port, token):
        super().__init__(daemon=True)
        self.port, self.token, self.status, self.stop = port, token, None, threading.Event()

    def run(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(f"GET /api/v1/events?token={self.token} HTTP/1.1\r\nHost: x\r\n"
                  "Accept: text/event-stream\r\n\r\n".encode())
        head = b""
        try:
            while b"\r\n" not in head:
                head += s.recv(1024)
            self.status = int(head.split()[1])
            while not self.stop.is_set():
                try:
                    if not s.recv(4096):
                        break
                except socket.timeout:
                    continue
        except OSError:
            pass
        s.close()


class FifoVerifier(threading.Thread):
    """POST /api/v1/backup-verify of a FIFO, again and again until stopped."""

    def __init__(self, port, token, fifo):
        super().__init__(daemon=True)
        self.port, self.token, self.fifo = port, token, fifo
        self.stop, self.answers, self.times = threading.Event(), {}, []

    def run(self):
        while not self.stop.is_set():
            status, _, _, t = request(self.port, "POST", "/api/v1/backup-verify", self.token,
                                      {"path_type": "LocalDir", "source_path": self.fifo})
            self.answers[status] = self.answers.get(status, 0) + 1
            self.times.append(t)


def burst(port, token, clients, per_client):
    latencies, errors, lock = [], [0], threading.Lock()
    barrier = threading.Barrier(clients)

    def client(i):
        barrier.wait()
        for k in range(per_client):
            path, tok = ("/api/v1/health", None) if (i + k) % 2 == 0 else ("/api/v1/clusters", token)
            try:
                status, _, _, t = request(port, "GET", path, tok)
            except OSError:
                status, t = 0, 30.0
            with lock:
                latencies.append(t)
                errors[0] += status != 200

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r = summary(latencies)
    r["non_200"] = errors[0]
    return r


def wrong_logins(port, user, seconds):
    """Wrong passwords for `user` as fast as the answers come, for `seconds`."""
    end = time.monotonic() + seconds
    looked_at, refused, retry_after, first_429_after = 0, 0, [], None
    in_429 = False
    start = time.monotonic()
    while time.monotonic() < end:
        status, headers, _, _ = request(port, "POST", "/api/v1/auth/login",
                                        body={"user": user, "password": "wrong-" + secrets.token_hex(4)})
        if status == 401:
            looked_at += 1
            in_429 = False
        elif status == 429:
            refused += 1
            if not in_429:  # the first 429 after a looked-at attempt: the new wait
                retry_after.append(int(headers.get("Retry-After", "-1")))
                if first_429_after is None:
                    first_429_after = looked_at
            in_429 = True
            time.sleep(0.05)
        else:
            sys.exit(f"a wrong login answered {status}")
    elapsed = time.monotonic() - start
    return {"seconds": round(elapsed, 1), "answered_401": looked_at, "answered_429": refused,
            "401_before_first_429": first_429_after, "retry_after_s": retry_after}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--login-seconds", type=int, default=60)
    ap.add_argument("--json")
    a = ap.parse_args()
    port = a.port
    with open(os.path.join(a.state_dir, "initial-admin-password")) as f:
        admin = login(port, "admin", f.read().strip())

    password = "bench-" + secrets.token_hex(12)
    users = {f"viewer{i}": "viewer" for i in range(4)}
    users.update({f"operator{i}": "operator" for i in range(2)})
    tokens = {}
    for name, role in users.items():
        status, _, body, _ = request(port, "POST", "/api/v1/users", admin,
                                     {"name": name, "role": role, "password": password})
        if status not in (201, 409):
            sys.exit(f"creating user {name} answered {status}: {body[:200]!r}")
        tokens[name] = login(port, name, password)

    out = {"alone": {"health": sequential(port, "/api/v1/health", None, a.requests),
                     "api": sequential(port, "/api/v1/clusters", admin, a.requests)}}

    streams = [Stream(port, tokens[f"viewer{i % 4}"]) for i in range(16)]
    for s in streams:
        s.start()
    time.sleep(1)
    fifo_dir = tempfile.mkdtemp(prefix="flinkbr-fifo-")
    fifo = os.path.join(fifo_dir, "1.18.1_Flink_20260101000000.tar.gz")
    os.mkfifo(fifo)
    verifiers = [FifoVerifier(port, tokens[f"operator{i % 2}"], fifo) for i in range(8)]
    for v in verifiers:
        v.start()
    time.sleep(1)
    out["held"] = {"streams_open": sum(1 for s in streams if s.status == 200),
                   "health": sequential(port, "/api/v1/health", None, a.requests),
                   "api": sequential(port, "/api/v1/clusters", admin, a.requests)}
    for v in verifiers:
        v.stop.set()
    for v in verifiers:
        v.join()
    answers = {}
    for v in verifiers:
        for k, n in v.answers.items():
            answers[str(k)] = answers.get(str(k), 0) + n
    out["held"]["fifo_verifies"] = {"answers": answers,
                                    "latency": summary([t for v in verifiers for t in v.times])}
    for s in streams:
        s.stop.set()
    os.unlink(fifo)
    os.rmdir(fifo_dir)

    out["48_clients"] = burst(port, admin, 48, 25)
    # Last: the client address's own count would refuse the other measurements' logins.
    out["wrong_logins"] = wrong_logins(port, "viewer0", a.login_seconds)

    h, held, b, w = out["alone"], out["held"], out["48_clients"], out["wrong_logins"]
    row = lambda s: f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, worst {s['worst_ms']} ms" \
                    f" ({s['n']} requests, {s['non_200']} not 200)"
    print(f"health alone:                      {row(h['health'])}")
    print(f"API alone (GET /clusters):         {row(h['api'])}")
    print(f"streams held: {held['streams_open']} of 16; FIFO verifies answered "
          f"{held['fifo_verifies']['answers']} (worst {held['fifo_verifies']['latency'].get('worst_ms')} ms)")
    print(f"health, streams and verifies held: {row(held['health'])}")
    print(f"API, streams and verifies held:    {row(held['api'])}")
    print(f"48 clients at once:                {row(b)}")
    print(f"wrong logins in {w['seconds']} s: {w['answered_401']} answered 401 "
          f"({w['401_before_first_429']} before the first 429), {w['answered_429']} answered 429; "
          f"Retry-After of each wait: {w['retry_after_s']} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
