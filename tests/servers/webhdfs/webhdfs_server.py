#!/usr/bin/env python3
"""A WebHDFS + YARN ResourceManager test server for flinkbr's tests (Python standard library only).

HDFS cannot be installed on the test machines, so this server plays a small HA HDFS cluster:
several NameNode HTTP endpoints sharing one namespace, one DataNode HTTP endpoint, a YARN
ResourceManager answering GET /ws/v1/cluster/scheduler, and a control endpoint through which a
test switches NameNodes to standby, cuts DataNode transfers, delays requests and changes queues.
It follows Hadoop's WebHDFS REST specification (WebHDFS.md) and the behaviour of the real
NameNode and DataNode where the specification is silent; README.md lists where it departs.

The namespace "/" is a local directory (--root): files and directories are real ones there.
Owner, group, permission, replication and block size of each path are kept in memory; a path
created directly on disk by a test has owner=<superuser>, group=supergroup and 755 (directory)
or 644 (file).

Usage:
  python3 webhdfs_server.py --root DIR --host HOST --namenodes N [--standby i,j]
      [--superuser NAME] [--user NAME:group1,group2 ...] [--queue NAME:STATE ...]
      [--list-page-size N] [--require-user]
It binds every port itself on port 0, prints one JSON line
  {"namenodes":[p0,p1,...],"datanode":p,"rm":p,"control":p}
and serves until SIGTERM/SIGINT, or until its standard input closes when that is a pipe.
"""

import argparse
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import stat
import sys
import threading
import time
import urllib.parse

SUPERGROUP = "supergroup"  # dfs.permissions.superusergroup's default
DEFAULT_WEB_USER = "dr.who"  # hadoop.http.staticuser.user's default
DEFAULT_BLOCK_SIZE = 128 * 1024 * 1024  # dfs.blocksize
DEFAULT_REPLICATION = 3  # dfs.replication
BYTES_PER_CRC = 512  # dfs.bytes-per-checksum
RPC_PORT_BASE = 8020  # the rpc-address given for NameNode i is host:(8020 + i)
STANDBY_URL = "https://s.apache.org/sbnn-error"

# Java class names of the exceptions this server answers with, and their HTTP statuses
# (WebHDFS.md "HTTP Response Codes": IllegalArgument/UnsupportedOperation 400, Security 401,
# IOException and its subclasses 403, FileNotFound 404, RuntimeException 500).
EXCEPTIONS = {
    "IllegalArgumentException": ("java.lang.IllegalArgumentException", 400),
    "InvalidPathException": ("org.apache.hadoop.fs.InvalidPathException", 400),
    "UnsupportedOperationException": ("java.lang.UnsupportedOperationException", 400),
    "SecurityException": ("java.lang.SecurityException", 401),
    "AccessControlException": ("org.apache.hadoop.security.AccessControlException", 403),
    "FileAlreadyExistsException": ("org.apache.hadoop.fs.FileAlreadyExistsException", 403),
    "ParentNotDirectoryException": ("org.apache.hadoop.fs.ParentNotDirectoryException", 403),
    "PathIsNotEmptyDirectoryException": (
        "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException", 403),
    "StandbyException": ("org.apache.hadoop.ipc.StandbyException", 403),
    "IOException": ("java.io.IOException", 403),
    "EOFException": ("java.io.EOFException", 403),
    "FileNotFoundException": ("java.io.FileNotFoundException", 404),
    "RuntimeException": ("java.lang.RuntimeException", 500),
}


class HdfsError(Exception):
    """An exception the server answers as RemoteException JSON."""

    def __init__(self, exception, message):
        super().__init__(message)
        self.exception = exception
        self.message = message


def illegal_param(name, detail):
    return HdfsError("IllegalArgumentException",
                     'Invalid value for webhdfs parameter "%s": %s' % (name, detail))


# ---------------------------------------------------------------------------------------------
# CRC32C (Castagnoli), the checksum HDFS keeps per 512 bytes; zlib only has CRC32 (IEEE).

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    t = CRC32C_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------
# Cluster state shared by every endpoint.

class Meta:
    __slots__ = ("owner", "group", "perm", "replication", "block_size")

    def __init__(self, owner, group, perm, replication=DEFAULT_REPLICATION,
                 block_size=DEFAULT_BLOCK_SIZE):
        self.owner = owner
        self.group = group
        self.perm = perm
        self.replication = replication
        self.block_size = block_size


class Cluster:
    def __init__(self, args):
        self.root = os.path.realpath(args.root)
        self.host = args.host
        self.superuser = args.superuser
        self.require_user = args.require_user
        self.namenodes = args.namenodes
        self.initial_standby = set(args.standby)
        self.initial_users = dict(args.user)
        self.initial_queues = list(args.queue)
        self.list_page_size = args.list_page_size
        # One lock for the namespace metadata and the fault settings: the server is small and
        # tests are not about NameNode throughput.
        self.lock = threading.RLock()
        self.meta = {}  # HDFS path -> Meta, for paths whose metadata differs from the defaults
        self.reset()

    def reset(self):
        with self.lock:
            self.standby = set(self.initial_standby)
            self.users = dict(self.initial_users)
            self.queues = list(self.initial_queues)  # [(name, state)] in start-up order
            self.drop_count = 0
            self.drop_after = 0
            self.delay_ms = 0

    # -- addresses -----------------------------------------------------------------------------

    def authority(self, port):
        h = "[%s]" % self.host if ":" in self.host else self.host
        return "%s:%d" % (h, port)

    def rpc_address(self, nn):
        return self.authority(RPC_PORT_BASE + nn)

    # -- users ---------------------------------------------------------------------------------

    def groups_of(self, user):
        with self.lock:
            groups = list(self.users.get(user, []))
        if user == self.superuser and SUPERGROUP not in groups:
            groups.append(SUPERGROUP)
        return groups

    def is_superuser(self, user):
        return user == self.superuser or SUPERGROUP in self.groups_of(user)

    # -- paths ---------------------------------------------------------------------------------

    def local(self, hpath):
        return self.root if hpath == "/" else os.path.join(self.root, hpath[1:])

    def get_meta(self, hpath, is_dir):
        with self.lock:
            m = self.meta.get(hpath)
        if m is None:
            m = Meta(self.superuser, SUPERGROUP, 0o755 if is_dir else 0o644)
        return m

    def set_meta(self, hpath, meta):
        with self.lock:
            self.meta[hpath] = meta

    def drop_meta(self, hpath):
        with self.lock:
            for k in [k for k in self.meta if k == hpath or k.startswith(hpath + "/")]:
                del self.meta[k]

    def move_meta(self, src, dst):
        with self.lock:
            for k in [k for k in self.meta if k == src or k.startswith(src + "/")]:
                self.meta[dst + k[len(src):]] = self.meta.pop(k)

    def stat(self, hpath):
        try:
            return os.stat(self.local(hpath))
        except OSError:
            return None


def normalize_path(raw):
    """The HDFS path of a URL path below /webhdfs/v1, or InvalidPathException for '.'/'..'."""
    path = urllib.parse.unquote(raw)
    parts = [p for p in path.split("/") if p != ""]
    for p in parts:
        if p in (".", "..") or ":" in p or "\0" in p:
            raise HdfsError("InvalidPathException", "Invalid path name Invalid file name: " + path)
    return "/" + "/".join(parts)


def parent_of(hpath):
    return "/" if hpath.count("/") <= 1 else hpath.rsplit("/", 1)[0]


def prefixes(hpath):
    """'/', '/a', '/a/b' for '/a/b/c' (the ancestors, not the path itself)."""
    out = ["/"]
    parts = hpath.strip("/").split("/") if hpath != "/" else []
    for i in range(1, len(parts)):
        out.append("/" + "/".join(parts[:i]))
    return out if hpath != "/" else []


def mode_string(is_dir, perm):
    s = "d" if is_dir else "-"
    for shift in (6, 3, 0):
        bits = (perm >> shift) & 7
        s += ("r" if bits & 4 else "-") + ("w" if bits & 2 else "-") + ("x" if bits & 1 else "-")
    if perm & 0o1000:
        s = s[:-1] + ("t" if s[-1] == "x" else "T")
    return s


ACCESS_NAMES = {4: "READ", 2: "WRITE", 1: "EXECUTE", 5: "READ_EXECUTE", 7: "ALL", 6: "READ_WRITE"}


# ---------------------------------------------------------------------------------------------
# Namespace operations: what the NameNode (and the DataNode's own client) do.

class Namespace:
    def __init__(self, cluster):
        self.c = cluster

    # -- permission checks, as HDFS's FSPermissionChecker --------------------------------------

    def _allowed(self, user, groups, hpath, st, access):
        m = self.c.get_meta(hpath, stat.S_ISDIR(st.st_mode))
        if user == m.owner:
            bits = (m.perm >> 6) & 7
        elif m.group in groups:
            bits = (m.perm >> 3) & 7
        else:
            bits = m.perm & 7
        return bits & access == access

    def _deny(self, user, hpath, st, access):
        m = self.c.get_meta(hpath, stat.S_ISDIR(st.st_mode))
        raise HdfsError("AccessControlException",
                        'Permission denied: user=%s, access=%s, inode="%s":%s:%s:%s' % (
                            user, ACCESS_NAMES.get(access, str(access)), hpath, m.owner, m.group,
                            mode_string(stat.S_ISDIR(st.st_mode), m.perm)))

    def check(self, user, hpath, self_access=0, parent_access=0, ancestor_access=0,
              sub_access=0, missing_parent="fnf"):
        """Traverse (EXECUTE) on every existing ancestor, then the asked accesses. A file met
        among the ancestors is ParentNotDirectoryException when missing_parent == 'pnd' (writes)
        or FileNotFoundException (reads)."""
        superuser = self.c.is_superuser(user)
        groups = self.c.groups_of(user)
        last_existing = None
        for p in prefixes(hpath):
            st = self.c.stat(p)
            if st is None:
                break
            if not stat.S_ISDIR(st.st_mode):
                if missing_parent == "pnd":
                    raise HdfsError("ParentNotDirectoryException", "%s (is not a directory)" % p)
                raise HdfsError("FileNotFoundException", "File does not exist: " + hpath)
            if not superuser and not self._allowed(user, groups, p, st, 1):
                self._deny(user, p, st, 1)
            last_existing = p
        if superuser:
            return
        if ancestor_access and last_existing is not None:
            st = self.c.stat(last_existing)
            if not self._allowed(user, groups, last_existing, st, ancestor_access):
                self._deny(user, last_existing, st, ancestor_access)
        if parent_access and hpath != "/":
            p = parent_of(hpath)
            st = self.c.stat(p)
            if st is not None and not self._allowed(user, groups, p, st, parent_access):
                self._deny(user, p, st, parent_access)
        st = self.c.stat(hpath)
        if self_access and st is not None and not self._allowed(user, groups, hpath, st,
                                                               self_access):
            self._deny(user, hpath, st, self_access)
        if sub_access and st is not None and stat.S_ISDIR(st.st_mode):
            for dirpath, dirnames, _ in os.walk(self.c.local(hpath)):
                rel = os.path.relpath(dirpath, self.c.root)
                hp = "/" if rel == "." else "/" + rel
                dst = os.stat(dirpath)
                if not self._allowed(user, groups, hp, dst, sub_access):
                    self._deny(user, hp, dst, sub_access)
                dirnames.sort()

    # -- reads ---------------------------------------------------------------------------------

    def require(self, hpath, message=None):
        st = self.c.stat(hpath)
        if st is None:
            raise HdfsError("FileNotFoundException", message or "File does not exist: " + hpath)
        return st

    def file_status(self, hpath, st, suffix):
        is_dir = stat.S_ISDIR(st.st_mode)
        m = self.c.get_meta(hpath, is_dir)
        status = {
            "accessTime": 0 if is_dir else st.st_atime_ns // 1000000,
            "blockSize": 0 if is_dir else m.block_size,
            "childrenNum": len(os.listdir(self.c.local(hpath))) if is_dir else 0,
            "fileId": st.st_ino,
            "group": m.group,
            "length": 0 if is_dir else st.st_size,
            "modificationTime": st.st_mtime_ns // 1000000,
            "owner": m.owner,
            "pathSuffix": suffix,
            "permission": "%o" % m.perm,
            "replication": 0 if is_dir else m.replication,
            "storagePolicy": 0,
            "type": "DIRECTORY" if is_dir else "FILE",
        }
        return status

    def children(self, hpath):
        # HDFS orders a directory's children by the bytes of their names.
        names = os.listdir(self.c.local(hpath))
        return sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape"))

    def getfilestatus(self, user, hpath):
        self.check(user, hpath)
        st = self.require(hpath)
        return {"FileStatus": self.file_status(hpath, st, "")}

    def _listing(self, user, hpath, start_after, limit):
        self.check(user, hpath)
        st = self.require(hpath, "File %s does not exist." % hpath)
        if not stat.S_ISDIR(st.st_mode):
            return [self.file_status(hpath, st, "")], 0
        self.check(user, hpath, self_access=5)
        names = self.children(hpath)
        if start_after is not None:
            key = start_after.encode("utf-8", "surrogateescape")
            names = [n for n in names if n.encode("utf-8", "surrogateescape") > key]
        page = names if limit is None else names[:limit]
        out = []
        for n in page:
            child = hpath.rstrip("/") + "/" + n
            cst = self.c.stat(child)
            if cst is not None:  # removed meanwhile
                out.append(self.file_status(child, cst, n))
        return out, len(names) - len(page)

    def liststatus(self, user, hpath):
        entries, _ = self._listing(user, hpath, None, None)
        return {"FileStatuses": {"FileStatus": entries}}

    def liststatus_batch(self, user, hpath, start_after):
        entries, remaining = self._listing(user, hpath, start_after, self.c.list_page_size)
        return {"DirectoryListing": {"partialListing": {"FileStatuses": {"FileStatus": entries}},
                                     "remainingEntries": remaining}}

    def getcontentsummary(self, user, hpath):
        self.check(user, hpath)
        st = self.require(hpath)
        self.check(user, hpath, sub_access=5)
        files = dirs = length = consumed = 0
        if stat.S_ISDIR(st.st_mode):
            for dirpath, dirnames, filenames in os.walk(self.c.local(hpath)):
                dirs += 1
                for f in filenames:
                    fp = os.path.join(dirpath, f)
                    rel = "/" + os.path.relpath(fp, self.c.root)
                    size = os.stat(fp).st_size
                    files += 1
                    length += size
                    consumed += size * self.c.get_meta(rel, False).replication
        else:
            files, length = 1, st.st_size
            consumed = length * self.c.get_meta(hpath, False).replication
        return {"ContentSummary": {"directoryCount": dirs, "ecPolicy": "", "fileCount": files,
                                   "length": length, "quota": -1, "spaceConsumed": consumed,
                                   "spaceQuota": -1, "typeQuota": {}}}

    def check_readable_file(self, user, hpath):
        self.check(user, hpath)
        st = self.require(hpath)
        if stat.S_ISDIR(st.st_mode):
            raise HdfsError("FileNotFoundException", "Path is not a file: " + hpath)
        self.check(user, hpath, self_access=4)
        return st

    def checksum(self, user, hpath):
        """MD5-of-MD5-of-CRC32C as HDFS computes it: a CRC32C per 512 bytes, an MD5 of each
        block's CRCs, an MD5 of the block MD5s. The bytes are bytesPerCRC (int), crcPerBlock
        (long) and the MD5: 28 bytes."""
        st = self.check_readable_file(user, hpath)
        block_size = self.c.get_meta(hpath, False).block_size
        block_md5s = b""
        with open(self.c.local(hpath), "rb") as f:
            while True:
                block = f.read(block_size)
                if not block:
                    break
                crcs = b"".join(crc32c(block[i:i + BYTES_PER_CRC]).to_bytes(4, "big")
                                for i in range(0, len(block), BYTES_PER_CRC))
                block_md5s += hashlib.md5(crcs).digest()
        crc_per_block = block_size // BYTES_PER_CRC if st.st_size > block_size else 0
        raw = (BYTES_PER_CRC.to_bytes(4, "big") + crc_per_block.to_bytes(8, "big") +
               hashlib.md5(block_md5s).digest())
        # The JSON field is longer than the 28 meaningful bytes (facts.md): zero padding.
        return {"FileChecksum": {
            "algorithm": "MD5-of-%dMD5-of-%dCRC32C" % (crc_per_block, BYTES_PER_CRC),
            "bytes": (raw + b"\0" * 4).hex(), "length": len(raw)}}

    # -- writes --------------------------------------------------------------------------------

    def _new_meta(self, user, hpath, perm, is_dir):
        # HDFS gives a new inode the group of its parent directory (BSD rule).
        parent = parent_of(hpath)
        pgroup = self.c.get_meta(parent, True).group
        return Meta(user, pgroup, perm if perm is not None else (0o755 if is_dir else 0o644))

    def _mkdirs_local(self, user, hpath, perm):
        created = []
        for p in prefixes(hpath) + [hpath]:
            st = self.c.stat(p)
            if st is None:
                os.mkdir(self.c.local(p))
                # Parents created on the way get u+wx as HDFS does; 755 unless asked otherwise.
                m = self._new_meta(user, p, perm if p == hpath else None, True)
                if p != hpath and perm is not None:
                    m.perm = perm | 0o300
                self.c.set_meta(p, m)
                created.append(p)
            elif not stat.S_ISDIR(st.st_mode):
                if p == hpath:
                    raise HdfsError("FileAlreadyExistsException", "Path is not a directory: " + p)
                raise HdfsError("ParentNotDirectoryException", "%s (is not a directory)" % p)
        return created

    def mkdirs(self, user, hpath, perm):
        with self.c.lock:
            self.check(user, hpath, missing_parent="pnd")
            st = self.c.stat(hpath)
            if st is not None:
                if not stat.S_ISDIR(st.st_mode):
                    raise HdfsError("FileAlreadyExistsException", "Path is not a directory: " +
                                    hpath)
                return {"boolean": True}
            self.check(user, hpath, ancestor_access=2, missing_parent="pnd")
            self._mkdirs_local(user, hpath, perm)
        return {"boolean": True}

    def delete(self, user, hpath, recursive):
        with self.c.lock:
            try:
                self.check(user, hpath)
            except HdfsError as e:
                if e.exception == "FileNotFoundException":
                    return {"boolean": False}
                raise
            st = self.c.stat(hpath)
            if st is None or hpath == "/":
                return {"boolean": False}
            is_dir = stat.S_ISDIR(st.st_mode)
            if is_dir and not recursive and os.listdir(self.c.local(hpath)):
                raise HdfsError("PathIsNotEmptyDirectoryException",
                                "`%s is non empty': Directory is not empty" % hpath)
            self.check(user, hpath, parent_access=2,
                       sub_access=7 if is_dir else 0)
            if is_dir:
                shutil.rmtree(self.c.local(hpath))
            else:
                os.unlink(self.c.local(hpath))
            self.c.drop_meta(hpath)
        return {"boolean": True}

    def rename(self, user, src, dst):
        """The old FileSystem.rename semantics WebHDFS RENAME has: false (not an exception) when
        the source is missing, the destination's parent is missing, or the destination exists
        as a file; into a directory when the destination is one."""
        with self.c.lock:
            try:
                self.check(user, src)
            except HdfsError as e:
                if e.exception == "FileNotFoundException":
                    return {"boolean": False}
                raise
            sst = self.c.stat(src)
            if sst is None or src == "/":
                return {"boolean": False}
            dst_st = self.c.stat(dst)
            if dst_st is not None and stat.S_ISDIR(dst_st.st_mode):
                # Into the directory, as HDFS does before any other check.
                dst = dst.rstrip("/") + "/" + src.rsplit("/", 1)[1]
                dst_st = self.c.stat(dst)
            if dst == src:
                return {"boolean": True}
            if dst.startswith(src + "/"):
                raise HdfsError("IOException", "Rename destination %s is a directory or file "
                                "under source %s" % (dst, src))
            if dst_st is not None:
                return {"boolean": False}
            try:
                self.check(user, dst, missing_parent="pnd")
            except HdfsError as e:
                if e.exception in ("FileNotFoundException", "ParentNotDirectoryException"):
                    return {"boolean": False}
                raise
            pst = self.c.stat(parent_of(dst))
            if pst is None or not stat.S_ISDIR(pst.st_mode):
                return {"boolean": False}
            self.check(user, src, parent_access=2)
            self.check(user, dst, parent_access=2)
            os.rename(self.c.local(src), self.c.local(dst))
            self.c.move_meta(src, dst)
        return {"boolean": True}

    def _owner_or_super(self, user, hpath, st):
        m = self.c.get_meta(hpath, stat.S_ISDIR(st.st_mode))
        if user != m.owner and not self.c.is_superuser(user):
            raise HdfsError("AccessControlException",
                            "Permission denied. user=%s is not the owner of inode=%s" %
                            (user, hpath))
        return m

    def setpermission(self, user, hpath, perm):
        with self.c.lock:
            self.check(user, hpath)
            st = self.require(hpath)
            m = self._owner_or_super(user, hpath, st)
            self.c.set_meta(hpath, Meta(m.owner, m.group, perm, m.replication, m.block_size))

    def setowner(self, user, hpath, owner, group):
        with self.c.lock:
            self.check(user, hpath)
            st = self.require(hpath)
            m = self._owner_or_super(user, hpath, st)
            if not self.c.is_superuser(user):
                if owner is not None and owner != user:
                    raise HdfsError("AccessControlException", "User %s is not a super user "
                                    "(non-super user cannot change owner)." % user)
                if group is not None and group not in self.c.groups_of(user):
                    raise HdfsError("AccessControlException",
                                    "User %s does not belong to %s" % (user, group))
            self.c.set_meta(hpath, Meta(owner or m.owner, group or m.group, m.perm,
                                        m.replication, m.block_size))

    def settimes(self, user, hpath, mtime, atime):
        with self.c.lock:
            self.check(user, hpath)
            st = self.require(hpath, "File/Directory %s does not exist." % hpath)
            self.check(user, hpath, self_access=2)
            new_m = st.st_mtime_ns if mtime == -1 else mtime * 1000000
            new_a = st.st_atime_ns if atime == -1 else atime * 1000000
            os.utime(self.c.local(hpath), ns=(new_a, new_m))

    def check_create(self, user, hpath, overwrite, client):
        """The checks HDFS makes when a file is created; raises what the DataNode answers."""
        self.check(user, hpath, missing_parent="pnd")
        st = self.c.stat(hpath)
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                raise HdfsError("FileAlreadyExistsException",
                                "%s already exists as a directory" % hpath)
            if not overwrite:
                raise HdfsError("FileAlreadyExistsException",
                                "%s for client %s already exists" % (hpath, client))
        pst = self.c.stat(parent_of(hpath))
        if pst is None:
            self.check(user, hpath, ancestor_access=2, missing_parent="pnd")
        else:
            self.check(user, hpath, parent_access=2, missing_parent="pnd")
            if overwrite and st is not None:
                self.check(user, hpath, self_access=2)

    def check_append(self, user, hpath):
        self.check(user, hpath)
        st = self.require(hpath)
        if stat.S_ISDIR(st.st_mode):
            raise HdfsError("FileNotFoundException", "Path is not a file: " + hpath)
        self.check(user, hpath, self_access=2)
        return st


# ---------------------------------------------------------------------------------------------
# HTTP plumbing.

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def server_bind(self):
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a machine without
        # DNS; the name is not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class Server6(Server):
    address_family = socket.AF_INET6


class ChunkedReader:
    """The request body, whether sent with Content-Length or chunked."""

    def __init__(self, rfile, headers):
        self.rfile = rfile
        self.chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        self.left = int(headers.get("Content-Length") or 0) if not self.chunked else 0
        self.done = False

    def read(self, n=65536):
        if self.done:
            return b""
        if not self.chunked:
            if self.left <= 0:
                self.done = True
                return b""
            data = self.rfile.read(min(n, self.left))
            if not data:
                raise ConnectionError("request body cut short")
            self.left -= len(data)
            return data
        if self.left == 0:
            line = self.rfile.readline(1024)
            if not line:
                raise ConnectionError("chunked body cut short")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers up to the empty line
                    t = self.rfile.readline(8192)
                    if not t or t in (b"\r\n", b"\n"):
                        break
                self.done = True
                return b""
            self.left = size
        data = self.rfile.read(min(n, self.left))
        if not data:
            raise ConnectionError("chunked body cut short")
        self.left -= len(data)
        if self.left == 0:
            self.rfile.readline(16)  # the CRLF after the chunk
        return data


def parse_bool(params, name, default):
    v = params.get(name)
    if v is None or v == "":
        return default
    if v.lower() == "true":
        return True
    if v.lower() == "false":
        return False
    raise illegal_param(name, 'Failed to parse "%s" to Boolean.' % v)


def parse_long(params, name, default, minimum=None):
    v = params.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v, 10)
    except ValueError:
        raise illegal_param(name, 'Failed to parse "%s" as a radix-10 long integer.' % v)
    if minimum is not None and n < minimum:
        raise illegal_param(name, "Invalid parameter range: %s = %d < %d" % (name, n, minimum))
    return n


def parse_perm(params, default):
    v = params.get("permission")
    if v is None or v == "":
        return default
    try:
        n = int(v, 8)
    except ValueError:
        n = -1
    if not 0 <= n <= 0o1777 or not v.isdigit():
        raise illegal_param("permission", 'Failed to parse "%s" as a radix-8 short integer.' % v)
    return n


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "flinkbr-webhdfs-test"
    cluster = None  # set on the subclass of each endpoint
    role = None  # ("nn", i) | ("dn",) | ("rm",) | ("control",)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.role[0], fmt % args))
        sys.stderr.flush()

    # -- answers -------------------------------------------------------------------------------

    def send_json(self, status, obj, extra=None, content_type="application/json"):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_empty(self, status, extra=None):
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def send_error_json(self, e):
        java, status = EXCEPTIONS[e.exception]
        self.send_json(status, {"RemoteException": {"exception": e.exception,
                                                    "javaClassName": java,
                                                    "message": e.message}})

    def drain_body(self):
        # Keep-alive needs the request body consumed even when it is ignored.
        if self.headers.get("Content-Length") or "chunked" in self.headers.get(
                "Transfer-Encoding", "").lower():
            r = ChunkedReader(self.rfile, self.headers)
            while r.read():
                pass

    # -- dispatch ------------------------------------------------------------------------------

    def do_GET(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def handle_expect_100(self):
        # The DataNode sends its own 100 Continue (even unasked) in CREATE/APPEND; elsewhere
        # answer the client's Expect as http.server does.
        if self.role[0] == "dn":
            return True
        return super().handle_expect_100()

    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        params = {}
        for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
            params[k] = v
        try:
            if self.role[0] == "control":
                self.drain_body()
                return self.control(url.path, params)
            if self.role[0] == "rm":
                self.drain_body()
                return self.rm(url.path)
            with self.cluster.lock:
                delay = self.cluster.delay_ms
            if delay:
                time.sleep(delay / 1000.0)
            if not url.path.startswith("/webhdfs/v1"):
                self.drain_body()
                return self.send_json(404, {"RemoteException": {
                    "exception": "FileNotFoundException",
                    "javaClassName": "java.io.FileNotFoundException",
                    "message": "No such resource: " + url.path}})
            raw = url.path[len("/webhdfs/v1"):] or "/"
            if not raw.startswith("/"):
                self.drain_body()
                return self.send_json(404, {"RemoteException": {
                    "exception": "FileNotFoundException",
                    "javaClassName": "java.io.FileNotFoundException",
                    "message": "No such resource: " + url.path}})
            if self.role[0] == "nn":
                self.drain_body()
                self.namenode(self.role[1], raw, params)
            else:
                self.datanode(raw, params)
        except HdfsError as e:
            if self.role[0] == "dn":
                self.close_connection = True  # real DataNodes close after an error
            self.send_error_json(e)
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True
        except Exception as e:  # a bug here must still answer as HDFS would: 500
            import traceback
            traceback.print_exc()
            self.send_error_json(HdfsError("RuntimeException", "%s: %s" % (type(e).__name__, e)))

    def user(self, params):
        u = params.get("user.name")
        if not u:
            if self.cluster.require_user:
                raise HdfsError("SecurityException", "Failed to obtain user group information: "
                                "java.io.IOException: Security enabled but user not "
                                "authenticated by filter")
            return DEFAULT_WEB_USER
        return u

    # -- NameNode ------------------------------------------------------------------------------

    GET_OPS = ("OPEN", "GETFILESTATUS", "LISTSTATUS", "LISTSTATUS_BATCH", "GETCONTENTSUMMARY",
               "GETFILECHECKSUM", "GETHOMEDIRECTORY")
    PUT_OPS = ("CREATE", "MKDIRS", "RENAME", "SETPERMISSION", "SETOWNER", "SETTIMES")
    POST_OPS = ("APPEND",)
    DELETE_OPS = ("DELETE",)
    READ_OPS = ("OPEN", "GETFILESTATUS", "LISTSTATUS", "LISTSTATUS_BATCH", "GETCONTENTSUMMARY",
                "GETFILECHECKSUM", "GETHOMEDIRECTORY")
    OP_ENUMS = {"GET": ("GetOpParam", GET_OPS), "PUT": ("PutOpParam", PUT_OPS),
                "POST": ("PostOpParam", POST_OPS), "DELETE": ("DeleteOpParam", DELETE_OPS)}

    def op_of(self, params):
        enum, ops = self.OP_ENUMS[self.command]
        op = params.get("op")
        if not op:
            raise illegal_param("op", "op=NULL is not supported")
        if op.upper() not in ops:
            raise illegal_param("op", "No enum constant org.apache.hadoop.hdfs.web.resources."
                                "%s.Op.%s" % (enum, op.upper()))
        return op.upper()

    def redirect(self, nn, hpath, op, user, extra, params):
        q = [("op", op), ("user.name", user),
             ("namenoderpcaddress", self.cluster.rpc_address(nn))] + extra
        location = "http://%s/webhdfs/v1%s?%s" % (
            self.cluster.authority(self.server.datanode_port), urllib.parse.quote(hpath),
            urllib.parse.urlencode(q))
        if parse_bool(params, "noredirect", False):
            return self.send_json(200, {"Location": location})
        self.send_empty(307, {"Location": location})

    def namenode(self, nn, raw, params):
        op = self.op_of(params)
        with self.cluster.lock:
            standby = nn in self.cluster.standby
        if standby:
            raise HdfsError("StandbyException",
                            "Operation category %s is not supported in state standby. Visit %s" %
                            ("READ" if op in self.READ_OPS else "WRITE", STANDBY_URL))
        user = self.user(params)
        hpath = normalize_path(raw)
        ns = Namespace(self.cluster)
        if op == "GETFILESTATUS":
            return self.send_json(200, ns.getfilestatus(user, hpath))
        if op == "LISTSTATUS":
            return self.send_json(200, ns.liststatus(user, hpath))
        if op == "LISTSTATUS_BATCH":
            return self.send_json(200, ns.liststatus_batch(user, hpath, params.get("startAfter")))
        if op == "GETCONTENTSUMMARY":
            return self.send_json(200, ns.getcontentsummary(user, hpath))
        if op == "GETHOMEDIRECTORY":
            return self.send_json(200, {"Path": "/user/" + user})
        if op == "GETFILECHECKSUM":
            ns.check_readable_file(user, hpath)
            return self.redirect(nn, hpath, op, user, [], params)
        if op == "OPEN":
            offset = parse_long(params, "offset", 0, 0)
            length = parse_long(params, "length", None, 0)
            ns.check_readable_file(user, hpath)
            extra = [("offset", str(offset))]
            if length is not None:
                extra.append(("length", str(length)))
            return self.redirect(nn, hpath, op, user, extra, params)
        if op == "CREATE":
            # The NameNode only chooses a DataNode; the file is created (and refused) there.
            overwrite = parse_bool(params, "overwrite", False)
            perm = parse_perm(params, None)
            replication = parse_long(params, "replication", None, 1)
            block_size = parse_long(params, "blocksize", None, 1)
            extra = [("createflag", ""), ("createparent", "true"),
                     ("overwrite", "true" if overwrite else "false")]
            if perm is not None:
                extra.append(("permission", "%o" % perm))
            if replication is not None:
                extra.append(("replication", str(replication)))
            if block_size is not None:
                extra.append(("blocksize", str(block_size)))
            return self.redirect(nn, hpath, op, user, extra, params)
        if op == "APPEND":
            ns.check_append(user, hpath)
            return self.redirect(nn, hpath, op, user, [], params)
        if op == "MKDIRS":
            return self.send_json(200, ns.mkdirs(user, hpath, parse_perm(params, None)))
        if op == "RENAME":
            dest = params.get("destination")
            if not dest:
                raise HdfsError("IllegalArgumentException",
                                "Required param destination for op: RENAME is null or empty")
            if not urllib.parse.unquote(dest).startswith("/"):
                raise illegal_param("destination", 'Invalid parameter value: destination = "%s" '
                                    "is not an absolute path." % dest)
            return self.send_json(200, ns.rename(user, hpath, normalize_path(dest)))
        if op == "DELETE":
            return self.send_json(200, ns.delete(user, hpath,
                                                 parse_bool(params, "recursive", False)))
        if op == "SETPERMISSION":
            ns.setpermission(user, hpath, parse_perm(params, 0o755))
            return self.send_empty(200)
        if op == "SETOWNER":
            owner = params.get("owner") or None
            group = params.get("group") or None
            if owner is None and group is None:
                raise HdfsError("IllegalArgumentException", "Both owner and group are empty.")
            ns.setowner(user, hpath, owner, group)
            return self.send_empty(200)
        if op == "SETTIMES":
            ns.settimes(user, hpath, parse_long(params, "modificationtime", -1, -1),
                        parse_long(params, "accesstime", -1, -1))
            return self.send_empty(200)
        raise illegal_param("op", "%s is not supported" % op)

    # -- DataNode ------------------------------------------------------------------------------

    def take_drop(self):
        """The byte count after which this transfer is cut, or None."""
        with self.cluster.lock:
            if self.cluster.drop_count > 0:
                self.cluster.drop_count -= 1
                return self.cluster.drop_after
        return None

    def cut(self):
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def datanode(self, raw, params):
        expected = {"GET": ("OPEN", "GETFILECHECKSUM"), "PUT": ("CREATE",), "POST": ("APPEND",),
                    "DELETE": ()}[self.command]
        op = (params.get("op") or "").upper()
        if op in ("CREATE", "APPEND") and op in expected:
            # Real DataNodes send 100 Continue before anything else, asked or not.
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        try:
            if op not in expected:
                raise HdfsError("IllegalArgumentException",
                                "Invalid operation %s" % params.get("op"))
            nnaddr = params.get("namenoderpcaddress")
            if not nnaddr:
                raise illegal_param("namenoderpcaddress", "namenoderpcaddress is not specified.")
            known = [self.cluster.rpc_address(i) for i in range(self.cluster.namenodes)]
            if nnaddr not in known:
                raise HdfsError("IllegalArgumentException",
                                "Unknown NameNode RPC address %s (this cluster has %s)" %
                                (nnaddr, ", ".join(known)))
            user = self.user(params)
            hpath = normalize_path(raw)
        except HdfsError:
            self.drain_body()
            raise
        ns = Namespace(self.cluster)
        if op == "OPEN":
            return self.dn_open(ns, user, hpath, params)
        if op == "GETFILECHECKSUM":
            # Real DataNodes answer OPEN and GETFILECHECKSUM with Connection: close.
            self.close_connection = True
            return self.send_json(200, ns.checksum(user, hpath),
                                  content_type="application/json; charset=utf-8")
        if op == "CREATE":
            return self.dn_create(ns, user, hpath, params, nnaddr)
        return self.dn_append(ns, user, hpath)

    def dn_open(self, ns, user, hpath, params):
        offset = parse_long(params, "offset", 0, 0)
        length = parse_long(params, "length", None, 0)
        st = ns.check_readable_file(user, hpath)
        if offset > st.st_size:
            raise HdfsError("EOFException", "Cannot seek after EOF")
        n = st.st_size - offset if length is None else min(length, st.st_size - offset)
        drop = self.take_drop()
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        with open(self.cluster.local(hpath), "rb") as f:
            f.seek(offset)
            while sent < n:
                want = min(65536, n - sent)
                if drop is not None:
                    if sent >= drop:
                        return self.cut()
                    want = min(want, drop - sent)
                data = f.read(want)
                if not data:  # the file shrank meanwhile: the answer is cut short
                    return self.cut()
                self.wfile.write(data)
                sent += len(data)

    def client_address_string(self):
        return self.client_address[0]

    def refuse_upload(self, e):
        # The DataNode answers a refused upload at once; the rest of the body is read and
        # discarded so that the client reliably sees the answer instead of a reset.
        try:
            self.drain_body()
        except ConnectionError:
            pass
        self.close_connection = True
        raise e

    def receive(self, f, drop):
        body = ChunkedReader(self.rfile, self.headers)
        got = 0
        while True:
            want = 65536 if drop is None else min(65536, drop - got)
            if drop is not None and want <= 0:
                f.flush()
                self.cut()
                return False
            data = body.read(want)
            if not data:
                return True
            f.write(data)
            got += len(data)

    def dn_create(self, ns, user, hpath, params, nnaddr):
        try:
            overwrite = parse_bool(params, "overwrite", False)
            perm = parse_perm(params, 0o644)
            replication = parse_long(params, "replication", DEFAULT_REPLICATION, 1)
            block_size = parse_long(params, "blocksize", DEFAULT_BLOCK_SIZE, 1)
            with self.cluster.lock:
                ns.check_create(user, hpath, overwrite, self.client_address_string())
                ns._mkdirs_local(user, parent_of(hpath), None)
                if self.cluster.stat(hpath) is not None:
                    os.unlink(self.cluster.local(hpath))
                    self.cluster.drop_meta(hpath)
                f = open(self.cluster.local(hpath), "wb")
                m = ns._new_meta(user, hpath, perm, False)
                m.replication, m.block_size = replication, block_size
                self.cluster.set_meta(hpath, m)
        except HdfsError as e:
            self.refuse_upload(e)
        with f:
            complete = self.receive(f, self.take_drop())
        if complete:
            self.send_empty(201, {"Location": "hdfs://%s%s" % (nnaddr, urllib.parse.quote(hpath))})

    def dn_append(self, ns, user, hpath):
        try:
            with self.cluster.lock:
                ns.check_append(user, hpath)
                f = open(self.cluster.local(hpath), "ab")
        except HdfsError as e:
            self.refuse_upload(e)
        with f:
            complete = self.receive(f, self.take_drop())
        if complete:
            self.send_empty(200)

    # -- ResourceManager -----------------------------------------------------------------------

    def rm(self, path):
        if self.command != "GET":
            return self.send_json(405, {"RemoteException": {
                "exception": "WebApplicationException",
                "javaClassName": "javax.ws.rs.WebApplicationException",
                "message": "HTTP 405 Method Not Allowed"}})
        path = path.rstrip("/")
        if path in ("/ws/v1/cluster/scheduler",):
            return self.send_json(200, {"scheduler": {"schedulerInfo": self.scheduler_info()}})
        if path in ("/ws/v1/cluster/info", "/ws/v1/cluster"):
            now = int(time.time() * 1000)
            return self.send_json(200, {"clusterInfo": {
                "id": now, "startedOn": now, "state": "STARTED", "haState": "ACTIVE",
                "resourceManagerVersion": "3.3.6", "hadoopVersion": "3.3.6"}})
        self.send_json(404, {"RemoteException": {
            "exception": "NotFoundException",
            "javaClassName": "org.apache.hadoop.yarn.webapp.NotFoundException",
            "message": "java.lang.Exception: Cannot find resource " + path}})

    def scheduler_info(self):
        """The Capacity Scheduler's JSON: root with nested queues.queue[]; a queue "a.b" is the
        leaf "b" under the parent "a"."""
        with self.cluster.lock:
            queues = list(self.cluster.queues)

        def leaf(name, path, state):
            return {"type": "capacitySchedulerLeafQueueInfo", "capacity": 0.0,
                    "usedCapacity": 0.0, "maxCapacity": 100.0, "absoluteCapacity": 0.0,
                    "absoluteMaxCapacity": 100.0, "absoluteUsedCapacity": 0.0,
                    "numApplications": 0, "queueName": name, "queuePath": path,
                    "state": state, "resourcesUsed": {"memory": 0, "vCores": 0},
                    "hideReservationQueues": False, "numActiveApplications": 0,
                    "numPendingApplications": 0, "numContainers": 0, "maxApplications": 10000,
                    "maxApplicationsPerUser": 10000, "userLimit": 100, "userLimitFactor": 1.0}

        root = {"type": "capacityScheduler", "capacity": 100.0, "usedCapacity": 0.0,
                "maxCapacity": 100.0, "queueName": "root", "queuePath": "root",
                "queues": {"queue": []}}
        for name, state in queues:
            node = root
            parts = name.split(".")
            path = "root"
            for i, part in enumerate(parts):
                path += "." + part
                kids = node.setdefault("queues", {"queue": []})["queue"]
                found = next((q for q in kids if q["queueName"] == part), None)
                if found is None:
                    found = leaf(part, path, "RUNNING")
                    kids.append(found)
                if i == len(parts) - 1:
                    found["state"] = state
                else:
                    found["type"] = "capacitySchedulerQueueInfo"  # a parent queue
                node = found
        if root["queues"]["queue"]:
            share = 100.0 / len(root["queues"]["queue"])
            for q in root["queues"]["queue"]:
                q["capacity"] = q["absoluteCapacity"] = share
        return root

    # -- control -------------------------------------------------------------------------------

    def control(self, path, params):
        c = self.cluster
        try:
            if self.command == "GET" and path == "/state":
                with c.lock:
                    return self.send_json(200, {"standby": sorted(c.standby),
                                                "queues": c.queues, "drop_count": c.drop_count,
                                                "drop_after": c.drop_after,
                                                "delay_ms": c.delay_ms, "users": c.users})
            if self.command != "POST":
                return self.send_json(405, {"error": "POST " + path})
            if path == "/standby":
                nn = int(params["nn"])
                if not 0 <= nn < c.namenodes or params.get("state") not in ("standby", "active"):
                    raise ValueError("nn in [0, %d) and state standby|active" % c.namenodes)
                with c.lock:
                    (c.standby.add if params["state"] == "standby" else c.standby.discard)(nn)
            elif path == "/drop":
                count, after = int(params["count"]), int(params.get("after", "0"))
                if count < 0 or after < 0:
                    raise ValueError("count and after must be >= 0")
                with c.lock:
                    c.drop_count, c.drop_after = count, after
            elif path == "/delay":
                ms = int(params["ms"])
                if ms < 0:
                    raise ValueError("ms must be >= 0")
                with c.lock:
                    c.delay_ms = ms
            elif path == "/queue":
                name, state = params["name"], params.get("state", "")
                if not name or state not in ("RUNNING", "STOPPED", "absent"):
                    raise ValueError("name and state RUNNING|STOPPED|absent")
                with c.lock:
                    rest = [(n, s) for n, s in c.queues if n != name]
                    c.queues = rest if state == "absent" else rest + [(name, state)]
            elif path == "/user":
                name = params["name"]
                groups = [g for g in params.get("groups", "").split(",") if g]
                with c.lock:
                    c.users[name] = groups
            elif path == "/reset":
                c.reset()
            else:
                return self.send_json(404, {"error": "unknown control " + path})
        except (KeyError, ValueError) as e:
            return self.send_json(400, {"error": "bad parameters for %s: %s" % (path, e)})
        self.send_json(200, {"ok": True})


# ---------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, help="local directory holding the namespace /")
    p.add_argument("--host", default="127.0.0.1", help="127.0.0.1 or ::1")
    p.add_argument("--namenodes", type=int, default=1)
    p.add_argument("--standby", default="", help="indexes of NameNodes starting in standby")
    p.add_argument("--superuser", default="hdfs")
    p.add_argument("--user", action="append", default=[], help="NAME:group1,group2")
    p.add_argument("--queue", action="append", default=[], help="NAME:RUNNING|STOPPED")
    p.add_argument("--list-page-size", type=int, default=1000, help="dfs.ls.limit")
    p.add_argument("--require-user", action="store_true",
                   help="answer 401 SecurityException when user.name is missing")
    a = p.parse_args(argv)
    if a.namenodes < 1:
        p.error("--namenodes must be at least 1")
    if a.list_page_size < 1:
        p.error("--list-page-size must be at least 1")
    a.standby = [int(s) for s in a.standby.split(",") if s.strip()]
    for s in a.standby:
        if not 0 <= s < a.namenodes:
            p.error("--standby %d is not a NameNode index" % s)
    users = []
    for u in a.user:
        name, _, groups = u.partition(":")
        users.append((name, [g for g in groups.split(",") if g]))
    a.user = users
    queues = []
    for q in a.queue:
        name, _, state = q.partition(":")
        if state not in ("RUNNING", "STOPPED"):
            p.error("--queue %s: state must be RUNNING or STOPPED" % q)
        queues.append((name, state))
    a.queue = queues
    return a


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.root, exist_ok=True)
    cluster = Cluster(args)
    server_class = Server6 if ":" in args.host else Server

    def make(role):
        handler = type("Handler_" + role[0], (Handler,), {"cluster": cluster, "role": role})
        return server_class((args.host, 0), handler)

    namenodes = [make(("nn", i)) for i in range(args.namenodes)]
    datanode = make(("dn",))
    rm = make(("rm",))
    control = make(("control",))
    servers = namenodes + [datanode, rm, control]
    for s in servers:
        s.datanode_port = datanode.server_address[1]

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()

    try:
        stdin_is_pipe = stat.S_ISFIFO(os.fstat(0).st_mode)
    except OSError:
        stdin_is_pipe = False
    if stdin_is_pipe:
        def watch_stdin():
            # The process that started us holds the pipe; when it dies we go too.
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            stop.set()
        threading.Thread(target=watch_stdin, daemon=True).start()

    sys.stdout.write(json.dumps({"namenodes": [s.server_address[1] for s in namenodes],
                                 "datanode": datanode.server_address[1],
                                 "rm": rm.server_address[1],
                                 "control": control.server_address[1]}) + "\n")
    sys.stdout.flush()
    while not stop.wait(0.1):
        pass
    # Exit at once: handler threads may be blocked on a client; nothing needs flushing.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
