#!/usr/bin/env python3
"""Generates a deterministic Flink-like files tree for bench/files.sh.

The layout follows a Flink high-availability storageDir and checkpoint directory: per job a
directory of small state handles (Java-serialized objects: stream magic, class descriptors with
Flink class names, hdfs paths, UUIDs, longs; compressible like real ones, not random) and a few
large blobs (job graphs, jars). Same arguments, same bytes and the same mtimes on every run.

usage: gen_files_tree.py DIR --small N --large M [--seed S]
"""
import argparse
import os
import random

CLASSES = [
    b"org.apache.flink.runtime.state.filesystem.FileStateHandle",
    b"org.apache.flink.runtime.state.KeyGroupsStateHandle",
    b"org.apache.flink.runtime.state.OperatorStreamStateHandle",
    b"org.apache.flink.runtime.checkpoint.OperatorSubtaskState",
    b"org.apache.flink.runtime.checkpoint.CompletedCheckpoint",
    b"org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle",
    b"org.apache.flink.runtime.state.memory.ByteStreamStateHandle",
    b"org.apache.flink.runtime.jobgraph.OperatorID",
    b"org.apache.flink.api.common.JobID",
    b"java.util.HashMap",
    b"java.util.ArrayList",
    b"java.lang.Long",
]


def record(rng):
    """One serialized-object-like record: mostly structure and names, some entropy."""
    cls = rng.choice(CLASSES)
    job = rng.getrandbits(128).to_bytes(16, "big").hex().encode()
    chk = str(rng.randrange(1, 99999)).encode()
    uuid = rng.getrandbits(128).to_bytes(16, "big").hex().encode()
    parts = [
        b"\xac\xed\x00\x05sr\x00", bytes([len(cls)]), cls,
        rng.getrandbits(64).to_bytes(8, "big"),  # serialVersionUID
        b"\x02\x00\x03J\x00\tstateSizeL\x00\x08filePatht\x00\x1fLorg/apache/flink/core/fs/Path;",
        b"xp", rng.getrandbits(32).to_bytes(8, "big"),
        b"sr\x00\x1forg.apache.flink.core.fs.Path\x00\x00\x00\x00\x00\x00\x00\x01\x02\x00\x01L\x00\x03urit\x00\x0eLjava/net/URI;xpsr\x00\x0cjava.net.URI",
        b"t\x00", b"hdfs://hacluster/flink/checkpoints/", job, b"/chk-", chk, b"/", uuid,
        b"x\x00\x00\x00", rng.getrandbits(32).to_bytes(4, "big"),
    ]
    # Inline state: a little random (serialized values), more repetitive (keys, offsets).
    n = rng.randrange(0, 96)
    parts.append(rng.randbytes(n // 2))
    parts.append(b"\x00\x00\x00\x01" * (n // 8) + b"keyGroupRange" + bytes([n % 7]) * (n // 3))
    return b"".join(parts)


def content(rng, size):
    out = []
    total = 0
    while total < size:
        r = record(rng)
        out.append(r)
        total += len(r)
    return b"".join(out)[:size]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--small", type=int, default=20000)
    ap.add_argument("--large", type=int, default=50)
    ap.add_argument("--seed", type=int, default=9)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    # A pool of file bodies cut from one long stream keeps generation fast; every file still
    # differs (its own slice, its own header).
    pool = content(rng, 8 << 20)
    mtime = 1_760_000_000
    jobs = max(1, a.small // 100)
    total = 0
    for i in range(a.small):
        job = "%032x" % rng.getrandbits(128) if i % 100 == 0 else job
        d = os.path.join(a.dir, "checkpoints", "job-%04d" % (i // 100), "chk-%d" % (i % 7))
        if i % 100 == 0 or not os.path.isdir(d):
            os.makedirs(d, exist_ok=True)
        # 1-64 KiB, log-uniform: most handles are small.
        size = int(1024 * (64 ** rng.random()))
        off = rng.randrange(0, len(pool) - size)
        body = record(rng) + pool[off:off + size]
        body = body[:size]
        p = os.path.join(d, "%08x-%s" % (i, job[:12]))
        with open(p, "wb") as f:
            f.write(body)
        os.utime(p, (mtime + i, mtime + i))
        total += size
    for i in range(a.large):
        d = os.path.join(a.dir, "ha", "blob", "job_%04d" % (i % jobs))
        os.makedirs(d, exist_ok=True)
        size = rng.randrange(2 << 20, 8 << 20)
        p = os.path.join(d, "blob_p-%040x" % rng.getrandbits(160))
        with open(p, "wb") as f:
            left = size
            while left > 0:
                n = min(left, 1 << 20)
                off = rng.randrange(0, len(pool) - n)
                f.write((record(rng) + pool[off:off + n])[:n])
                left -= n
        os.utime(p, (mtime + i, mtime + i))
        total += size
    for root, dirs, _ in os.walk(a.dir):
        for x in dirs:
            os.utime(os.path.join(root, x), (mtime, mtime))
    os.utime(a.dir, (mtime, mtime))
    print(total)


if __name__ == "__main__":
    main()
