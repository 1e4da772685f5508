"""Tests of the WebHDFS test server itself (python3 -m unittest -v test_webhdfs_server).

Each test talks HTTP to a real server process, as flinkbr's client does: the 307 flow both ways,
every operation, RemoteException shapes and statuses, standby NameNodes, permissions,
LISTSTATUS_BATCH paging, cut transfers, IPv6, the ResourceManager's queues.
"""

import hashlib
import http.client
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "webhdfs_server.py")
sys.path.insert(0, HERE)
import webhdfs_server  # noqa: E402  (for crc32c)


class ServerProcess:
    def __init__(self, *extra, host="127.0.0.1"):
        self.host = host
        self.dir = tempfile.mkdtemp(prefix="webhdfs-test-")
        self.root = os.path.join(self.dir, "root")
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--root", self.root, "--host", host] + list(extra),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        if not ready:
            self.stop()
            raise RuntimeError("server printed no ports line within 10 s")
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("server exited: " + open(self.log.name).read())
        ports = json.loads(line)
        self.namenodes = ports["namenodes"]
        self.datanode = ports["datanode"]
        self.rm = ports["rm"]
        self.control_port = ports["control"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def authority(self, port):
        return ("[%s]:%d" if ":" in self.host else "%s:%d") % (self.host, port)

    def request(self, port, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            res = conn.getresponse()
            return res.status, dict(res.getheaders()), res.read()
        finally:
            conn.close()

    def nn(self, method, path, i=0, user="hdfs", body=None, **params):
        if user is not None:
            params["user.name"] = user
        query = urllib.parse.urlencode(params)
        status, headers, data = self.request(
            self.namenodes[i], method, "/webhdfs/v1" + urllib.parse.quote(path) + "?" + query,
            body)
        return status, headers, data

    def nn_json(self, method, path, **kw):
        status, _, data = self.nn(method, path, **kw)
        return status, json.loads(data) if data else None

    def follow(self, location, method, body=None, headers=None):
        u = urllib.parse.urlsplit(location)
        return self.request(u.port, method, u.path + "?" + u.query, body, headers)

    def create(self, path, data, user="hdfs", i=0, **params):
        status, headers, _ = self.nn("PUT", path, i=i, user=user, op="CREATE", **params)
        if status != 307:
            return status, headers, _
        return self.follow(headers["Location"], "PUT", data)

    def read(self, path, user="hdfs", **params):
        status, headers, body = self.nn("GET", path, user=user, op="OPEN", **params)
        if status != 307:
            return status, body
        status, _, body = self.follow(headers["Location"], "GET")
        return status, body

    def control(self, path):
        status, _, body = self.request(self.control_port, "POST", path)
        if status != 200:
            raise RuntimeError("control %s: %d %s" % (path, status, body))

    def local(self, path):
        return os.path.join(self.root, path.lstrip("/"))


def remote(exception, java, message=None):
    r = {"exception": exception, "javaClassName": java}
    if message is not None:
        r["message"] = message
    return r


class ServerTest(unittest.TestCase):
    ARGS = ("--namenodes", "2", "--standby", "1", "--superuser", "hdfs",
            "--user", "alice:staff,analysts", "--user", "bob:staff", "--user", "carol:other",
            "--user", "root2:supergroup",
            "--queue", "default:RUNNING", "--list-page-size", "2")

    @classmethod
    def setUpClass(cls):
        cls.s = ServerProcess(*cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def setUp(self):
        self.s.control("/reset")
        self.base = "/t/" + self.id().rsplit(".", 1)[1]
        status, body = self.s.nn_json("PUT", self.base, op="MKDIRS")
        self.assertEqual((status, body), (200, {"boolean": True}))

    def assertRemote(self, result, status, exception, java, message=None):
        got_status, body = result[0], result[-1]
        if isinstance(body, (bytes, str)):
            body = json.loads(body)
        self.assertEqual(got_status, status, body)
        self.assertEqual(list(body), ["RemoteException"])
        r = body["RemoteException"]
        self.assertEqual(r["exception"], exception)
        self.assertEqual(r["javaClassName"], java)
        if message is not None:
            self.assertEqual(r["message"], message)

    # -- the 307 flow --------------------------------------------------------------------------

    def test_create_redirects_to_the_datanode_and_lands_the_file(self):
        path = self.base + "/a b.bin"
        status, headers, body = self.s.nn("PUT", path, op="CREATE", user="hdfs",
                                          overwrite="false", permission="600")
        self.assertEqual(status, 307)
        self.assertEqual(body, b"")
        loc = urllib.parse.urlsplit(headers["Location"])
        self.assertEqual(loc.netloc, "127.0.0.1:%d" % self.s.datanode)
        self.assertEqual(urllib.parse.unquote(loc.path), "/webhdfs/v1" + path)
        q = dict(urllib.parse.parse_qsl(loc.query, keep_blank_values=True))
        self.assertEqual(q["op"], "CREATE")
        self.assertEqual(q["user.name"], "hdfs")
        self.assertEqual(q["namenoderpcaddress"], "127.0.0.1:8020")
        self.assertEqual(q["overwrite"], "false")
        self.assertEqual(q["permission"], "600")
        # Step 1 creates nothing: real NameNodes only choose a DataNode.
        self.assertFalse(os.path.exists(self.s.local(path)))
        data = bytes(range(256)) * 1000
        status, headers, body = self.s.follow(headers["Location"], "PUT", data)
        self.assertEqual(status, 201)
        self.assertEqual(headers["Location"], "hdfs://127.0.0.1:8020" + urllib.parse.quote(path))
        self.assertEqual(body, b"")
        with open(self.s.local(path), "rb") as f:
            self.assertEqual(f.read(), data)
        _, st = self.s.nn_json("GET", path, op="GETFILESTATUS")
        self.assertEqual(st["FileStatus"]["permission"], "600")
        self.assertEqual(st["FileStatus"]["length"], len(data))

    def test_create_with_noredirect_answers_the_location_as_json(self):
        path = self.base + "/f"
        status, headers, body = self.s.nn("PUT", path, op="CREATE", noredirect="true")
        self.assertEqual(status, 200)
        self.assertNotIn("Location", headers)
        loc = json.loads(body)["Location"]
        self.assertTrue(loc.startswith("http://127.0.0.1:%d/webhdfs/v1%s?" % (self.s.datanode,
                                                                             path)))
        status, _, _ = self.s.follow(loc, "PUT", b"xyz")
        self.assertEqual(status, 201)
        self.assertEqual(self.s.read(path), (200, b"xyz"))

    def test_datanode_sends_100_continue_unasked_then_201(self):
        status, headers, _ = self.s.nn("PUT", self.base + "/c", op="CREATE")
        loc = urllib.parse.urlsplit(headers["Location"])
        sock = socket.create_connection(("127.0.0.1", loc.port), timeout=10)
        try:
            sock.sendall(("PUT %s?%s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n" %
                          (loc.path, loc.query)).encode())
            first = sock.recv(100)
            self.assertEqual(first, b"HTTP/1.1 100 Continue\r\n\r\n")
            sock.sendall(b"hello")
            rest = b""
            while b"\r\n\r\n" not in rest:
                rest += sock.recv(1000)
            self.assertTrue(rest.startswith(b"HTTP/1.1 201 Created\r\n"), rest)
        finally:
            sock.close()
        self.assertEqual(self.s.read(self.base + "/c"), (200, b"hello"))

    def test_create_accepts_a_chunked_body(self):
        status, headers, _ = self.s.nn("PUT", self.base + "/chunked", op="CREATE")
        loc = urllib.parse.urlsplit(headers["Location"])
        conn = http.client.HTTPConnection("127.0.0.1", loc.port, timeout=10)
        conn.request("PUT", loc.path + "?" + loc.query, body=iter([b"abc", b"", b"defgh" * 1000]),
                     encode_chunked=True)
        res = conn.getresponse()
        self.assertEqual(res.status, 201)
        conn.close()
        self.assertEqual(self.s.read(self.base + "/chunked"), (200, b"abc" + b"defgh" * 1000))

    def test_create_refusals_come_from_the_datanode(self):
        path = self.base + "/exists"
        self.assertEqual(self.s.create(path, b"one")[0], 201)
        self.assertRemote(self.s.create(path, b"two"), 403, "FileAlreadyExistsException",
                          "org.apache.hadoop.fs.FileAlreadyExistsException",
                          "%s for client 127.0.0.1 already exists" % path)
        self.assertEqual(self.s.read(path), (200, b"one"))
        self.assertEqual(self.s.create(path, b"two", overwrite="true")[0], 201)
        self.assertEqual(self.s.read(path), (200, b"two"))
        self.assertRemote(self.s.create(self.base, b"x", overwrite="true"), 403,
                          "FileAlreadyExistsException",
                          "org.apache.hadoop.fs.FileAlreadyExistsException",
                          "%s already exists as a directory" % self.base)
        self.assertRemote(self.s.create(path + "/below", b"x"), 403,
                          "ParentNotDirectoryException",
                          "org.apache.hadoop.fs.ParentNotDirectoryException",
                          "%s (is not a directory)" % path)

    def test_create_makes_missing_parents(self):
        path = self.base + "/x/y/z.bin"
        self.assertEqual(self.s.create(path, b"deep", user="hdfs")[0], 201)
        _, st = self.s.nn_json("GET", self.base + "/x/y", op="GETFILESTATUS")
        self.assertEqual(st["FileStatus"]["type"], "DIRECTORY")

    def test_open_redirects_and_honours_offset_and_length(self):
        path = self.base + "/r"
        data = os.urandom(300000)
        self.assertEqual(self.s.create(path, data)[0], 201)
        status, headers, body = self.s.nn("GET", path, op="OPEN", offset="1000", length="5000")
        self.assertEqual(status, 307)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))
        self.assertEqual((q["offset"], q["length"], q["namenoderpcaddress"]),
                         ("1000", "5000", "127.0.0.1:8020"))
        status, h, body = self.s.follow(headers["Location"], "GET")
        self.assertEqual((status, h["Content-Type"], h["Connection"], body),
                         (200, "application/octet-stream", "close", data[1000:6000]))
        self.assertEqual(self.s.read(path), (200, data))
        self.assertEqual(self.s.read(path, offset="299990"), (200, data[299990:]))
        self.assertEqual(self.s.read(path, offset=str(len(data))), (200, b""))
        self.assertRemote(self.s.read(path, offset=str(len(data) + 1)), 403, "EOFException",
                          "java.io.EOFException", "Cannot seek after EOF")
        self.assertRemote(self.s.nn("GET", path, op="OPEN", offset="-1"), 400,
                          "IllegalArgumentException", "java.lang.IllegalArgumentException",
                          'Invalid value for webhdfs parameter "offset": '
                          "Invalid parameter range: offset = -1 < 0")
        status, _, body = self.s.nn("GET", path, op="OPEN", noredirect="true")
        self.assertEqual(status, 200)
        self.assertIn("Location", json.loads(body))

    def test_open_refusals_come_from_the_namenode(self):
        self.assertRemote(self.s.nn("GET", self.base + "/missing", op="OPEN"), 404,
                          "FileNotFoundException", "java.io.FileNotFoundException",
                          "File does not exist: %s/missing" % self.base)
        self.assertRemote(self.s.nn("GET", self.base, op="OPEN"), 404, "FileNotFoundException",
                          "java.io.FileNotFoundException", "Path is not a file: " + self.base)

    def test_append_goes_through_the_datanode(self):
        path = self.base + "/ap"
        self.assertEqual(self.s.create(path, b"head-")[0], 201)
        status, headers, _ = self.s.nn("POST", path, op="APPEND")
        self.assertEqual(status, 307)
        status, _, body = self.s.follow(headers["Location"], "POST", b"tail")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(self.s.read(path), (200, b"head-tail"))
        self.assertRemote(self.s.nn("POST", self.base + "/none", op="APPEND"), 404,
                          "FileNotFoundException", "java.io.FileNotFoundException")

    def test_datanode_checks_the_namenode_address(self):
        path = urllib.parse.quote(self.base + "/dn")
        status, _, body = self.s.request(self.s.datanode, "PUT",
                                         "/webhdfs/v1%s?op=CREATE&user.name=hdfs" % path, b"x")
        self.assertRemote((status, body), 400, "IllegalArgumentException",
                          "java.lang.IllegalArgumentException",
                          'Invalid value for webhdfs parameter "namenoderpcaddress": '
                          "namenoderpcaddress is not specified.")
        status, _, body = self.s.request(
            self.s.datanode, "PUT",
            "/webhdfs/v1%s?op=CREATE&user.name=hdfs&namenoderpcaddress=10.0.0.1:8020" % path,
            b"x")
        self.assertEqual(status, 400)
        self.assertFalse(os.path.exists(self.s.local(self.base + "/dn")))
        status, headers, body = self.s.request(
            self.s.datanode, "GET",
            "/webhdfs/v1%s?op=LISTSTATUS&user.name=hdfs&namenoderpcaddress=127.0.0.1:8020" % path)
        self.assertRemote((status, body), 400, "IllegalArgumentException",
                          "java.lang.IllegalArgumentException", "Invalid operation LISTSTATUS")
        self.assertEqual(headers["Connection"], "close")

    # -- metadata operations -------------------------------------------------------------------

    def test_getfilestatus_of_a_file_and_a_directory(self):
        self.assertEqual(self.s.create(self.base + "/f", b"12345", replication="2")[0], 201)
        status, st = self.s.nn_json("GET", self.base + "/f", op="GETFILESTATUS")
        self.assertEqual(status, 200)
        f = st["FileStatus"]
        self.assertEqual(set(f), {"accessTime", "blockSize", "childrenNum", "fileId", "group",
                                  "length", "modificationTime", "owner", "pathSuffix",
                                  "permission", "replication", "storagePolicy", "type"})
        self.assertEqual((f["type"], f["length"], f["owner"], f["group"], f["permission"],
                          f["pathSuffix"], f["replication"], f["blockSize"]),
                         ("FILE", 5, "hdfs", "supergroup", "644", "", 2, 134217728))
        self.assertAlmostEqual(f["modificationTime"] / 1000, time.time(), delta=60)
        _, st = self.s.nn_json("GET", self.base, op="GETFILESTATUS")
        d = st["FileStatus"]
        self.assertEqual((d["type"], d["length"], d["permission"], d["childrenNum"],
                          d["replication"], d["blockSize"]), ("DIRECTORY", 0, "755", 1, 0, 0))
        self.assertRemote(self.s.nn("GET", self.base + "/nope", op="GETFILESTATUS"), 404,
                          "FileNotFoundException", "java.io.FileNotFoundException",
                          "File does not exist: %s/nope" % self.base)

    def test_paths_made_directly_on_disk_get_default_metadata(self):
        os.makedirs(self.s.local(self.base + "/disk/sub"))
        with open(self.s.local(self.base + "/disk/file"), "wb") as f:
            f.write(b"on disk")
        _, st = self.s.nn_json("GET", self.base + "/disk", op="LISTSTATUS")
        got = [(e["pathSuffix"], e["type"], e["owner"], e["group"], e["permission"],
                e["length"]) for e in st["FileStatuses"]["FileStatus"]]
        self.assertEqual(got, [("file", "FILE", "hdfs", "supergroup", "644", 7),
                               ("sub", "DIRECTORY", "hdfs", "supergroup", "755", 0)])

    def test_liststatus_sorts_by_name_and_lists_a_file_as_itself(self):
        for n in ("b", "a", "C", "a0"):
            self.assertEqual(self.s.create(self.base + "/" + n, n.encode())[0], 201)
        _, st = self.s.nn_json("GET", self.base, op="LISTSTATUS")
        self.assertEqual([e["pathSuffix"] for e in st["FileStatuses"]["FileStatus"]],
                         ["C", "a", "a0", "b"])
        _, st = self.s.nn_json("GET", self.base + "/a", op="LISTSTATUS")
        entries = st["FileStatuses"]["FileStatus"]
        self.assertEqual([(e["pathSuffix"], e["type"], e["length"]) for e in entries],
                         [("", "FILE", 1)])
        self.assertRemote(self.s.nn("GET", self.base + "/zz", op="LISTSTATUS"), 404,
                          "FileNotFoundException", "java.io.FileNotFoundException",
                          "File %s/zz does not exist." % self.base)

    def test_liststatus_batch_pages_with_start_after(self):
        names = ["e", "d", "c", "b", "a"]
        for n in names:
            self.s.nn_json("PUT", self.base + "/" + n, op="MKDIRS")
        pages = []
        start = None
        while True:
            params = {"op": "LISTSTATUS_BATCH"}
            if start is not None:
                params["startAfter"] = start
            status, body = self.s.nn_json("GET", self.base, **params)
            self.assertEqual(status, 200)
            self.assertEqual(list(body), ["DirectoryListing"])
            listing = body["DirectoryListing"]
            got = [e["pathSuffix"] for e in listing["partialListing"]["FileStatuses"]
                   ["FileStatus"]]
            pages.append((got, listing["remainingEntries"]))
            if listing["remainingEntries"] == 0:
                break
            start = got[-1]
        self.assertEqual(pages, [(["a", "b"], 3), (["c", "d"], 1), (["e"], 0)])
        # startAfter need not exist: the listing resumes after it in name order.
        _, body = self.s.nn_json("GET", self.base, op="LISTSTATUS_BATCH", startAfter="bb")
        got = [e["pathSuffix"] for e in body["DirectoryListing"]["partialListing"]
               ["FileStatuses"]["FileStatus"]]
        self.assertEqual(got, ["c", "d"])

    def test_getcontentsummary(self):
        self.s.create(self.base + "/d/one", b"1" * 10)
        self.s.create(self.base + "/d/e/two", b"2" * 20, replication="1")
        status, body = self.s.nn_json("GET", self.base + "/d", op="GETCONTENTSUMMARY")
        self.assertEqual(status, 200)
        cs = body["ContentSummary"]
        self.assertEqual((cs["directoryCount"], cs["fileCount"], cs["length"], cs["quota"],
                          cs["spaceQuota"], cs["spaceConsumed"]), (2, 2, 30, -1, -1, 10 * 3 + 20))
        self.assertRemote(self.s.nn("GET", self.base + "/none", op="GETCONTENTSUMMARY"), 404,
                          "FileNotFoundException", "java.io.FileNotFoundException")

    def test_getfilechecksum_redirects_and_answers_md5_of_md5_of_crc32c(self):
        self.assertEqual(webhdfs_server.crc32c(b"123456789"), 0xE3069283)  # RFC 3720 vector
        data = os.urandom(2000)
        self.s.create(self.base + "/ck", data)
        status, headers, _ = self.s.nn("GET", self.base + "/ck", op="GETFILECHECKSUM")
        self.assertEqual(status, 307)
        status, _, body = self.s.follow(headers["Location"], "GET")
        self.assertEqual(status, 200)
        ck = json.loads(body)["FileChecksum"]
        crcs = b"".join(webhdfs_server.crc32c(data[i:i + 512]).to_bytes(4, "big")
                        for i in range(0, len(data), 512))
        md5 = hashlib.md5(hashlib.md5(crcs).digest()).hexdigest()
        self.assertEqual(ck["algorithm"], "MD5-of-0MD5-of-512CRC32C")
        self.assertEqual(ck["length"], 28)
        self.assertEqual(ck["bytes"][:56], "00000200" + "0000000000000000" + md5)
        self.assertGreater(len(ck["bytes"]), 56)
        # Several blocks: crcPerBlock = blockSize / 512.
        self.s.create(self.base + "/ck2", data, blocksize="1024")
        status, headers, _ = self.s.nn("GET", self.base + "/ck2", op="GETFILECHECKSUM")
        ck2 = json.loads(self.s.follow(headers["Location"], "GET")[2])["FileChecksum"]
        self.assertEqual(ck2["algorithm"], "MD5-of-2MD5-of-512CRC32C")
        self.assertNotEqual(ck2["bytes"], ck["bytes"])

    def test_mkdirs(self):
        status, body = self.s.nn_json("PUT", self.base + "/m/n", op="MKDIRS", permission="700")
        self.assertEqual((status, body), (200, {"boolean": True}))
        _, st = self.s.nn_json("GET", self.base + "/m/n", op="GETFILESTATUS")
        self.assertEqual(st["FileStatus"]["permission"], "700")
        self.assertEqual(self.s.nn_json("PUT", self.base + "/m/n", op="MKDIRS"),
                         (200, {"boolean": True}))
        self.s.create(self.base + "/file", b"x")
        self.assertRemote(self.s.nn("PUT", self.base + "/file", op="MKDIRS"), 403,
                          "FileAlreadyExistsException",
                          "org.apache.hadoop.fs.FileAlreadyExistsException",
                          "Path is not a directory: %s/file" % self.base)
        self.assertRemote(self.s.nn("PUT", self.base + "/file/sub", op="MKDIRS"), 403,
                          "ParentNotDirectoryException",
                          "org.apache.hadoop.fs.ParentNotDirectoryException",
                          "%s/file (is not a directory)" % self.base)

    def test_rename(self):
        b = self.base
        self.s.create(b + "/src", b"S")
        self.assertEqual(self.s.nn_json("PUT", b + "/src", op="RENAME", destination=b + "/dst"),
                         (200, {"boolean": True}))
        self.assertEqual(self.s.read(b + "/dst"), (200, b"S"))
        self.assertFalse(os.path.exists(self.s.local(b + "/src")))
        # Missing source, destination file exists, destination parent missing: false.
        self.assertEqual(self.s.nn_json("PUT", b + "/src", op="RENAME", destination=b + "/x"),
                         (200, {"boolean": False}))
        self.s.create(b + "/other", b"O")
        self.assertEqual(self.s.nn_json("PUT", b + "/dst", op="RENAME", destination=b + "/other"),
                         (200, {"boolean": False}))
        self.assertEqual(self.s.read(b + "/other"), (200, b"O"))
        self.assertEqual(self.s.nn_json("PUT", b + "/dst", op="RENAME",
                                        destination=b + "/no/such/dir"),
                         (200, {"boolean": False}))
        # Into an existing directory; directories move with their metadata.
        self.s.nn_json("PUT", b + "/dir/inner", op="MKDIRS", permission="711")
        self.assertEqual(self.s.nn_json("PUT", b + "/dst", op="RENAME", destination=b + "/dir"),
                         (200, {"boolean": True}))
        self.assertEqual(self.s.read(b + "/dir/dst"), (200, b"S"))
        self.assertEqual(self.s.nn_json("PUT", b + "/dir", op="RENAME", destination=b + "/moved"),
                         (200, {"boolean": True}))
        _, st = self.s.nn_json("GET", b + "/moved/inner", op="GETFILESTATUS")
        self.assertEqual(st["FileStatus"]["permission"], "711")
        self.assertRemote(self.s.nn("PUT", b + "/moved", op="RENAME",
                                    destination=b + "/moved/inner/x"),
                          403, "IOException", "java.io.IOException",
                          "Rename destination %s/moved/inner/x is a directory or file under "
                          "source %s/moved" % (b, b))
        # A directory onto itself means into itself: refused the same way.
        self.assertEqual(self.s.nn("PUT", b + "/moved", op="RENAME", destination=b + "/moved")[0],
                         403)
        self.assertEqual(self.s.nn_json("PUT", b + "/other", op="RENAME",
                                        destination=b + "/other"), (200, {"boolean": True}))
        self.assertEqual(self.s.read(b + "/other"), (200, b"O"))
        self.assertRemote(self.s.nn("PUT", b + "/moved", op="RENAME"), 400,
                          "IllegalArgumentException", "java.lang.IllegalArgumentException",
                          "Required param destination for op: RENAME is null or empty")
        self.assertRemote(self.s.nn("PUT", b + "/moved", op="RENAME", destination="relative"),
                          400, "IllegalArgumentException", "java.lang.IllegalArgumentException")

    def test_delete(self):
        b = self.base
        self.s.create(b + "/d/f", b"x")
        self.assertEqual(self.s.nn_json("DELETE", b + "/missing", op="DELETE"),
                         (200, {"boolean": False}))
        self.assertRemote(self.s.nn("DELETE", b + "/d", op="DELETE", recursive="false"), 403,
                          "PathIsNotEmptyDirectoryException",
                          "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
                          "`%s/d is non empty': Directory is not empty" % b)
        self.assertTrue(os.path.exists(self.s.local(b + "/d/f")))
        self.assertEqual(self.s.nn_json("DELETE", b + "/d/f", op="DELETE"),
                         (200, {"boolean": True}))
        self.s.create(b + "/d/g", b"x")
        self.assertEqual(self.s.nn_json("DELETE", b + "/d", op="DELETE", recursive="true"),
                         (200, {"boolean": True}))
        self.assertFalse(os.path.exists(self.s.local(b + "/d")))

    def test_setpermission_setowner_settimes(self):
        p = self.base + "/meta"
        self.s.create(p, b"x")
        self.assertEqual(self.s.nn("PUT", p, op="SETPERMISSION", permission="1750")[:1], (200,))
        self.assertEqual(self.s.nn("PUT", p, op="SETOWNER", owner="alice", group="staff")[0], 200)
        self.assertEqual(self.s.nn("PUT", p, op="SETTIMES", modificationtime="1600000000123",
                                   accesstime="1600000001000")[0], 200)
        _, st = self.s.nn_json("GET", p, op="GETFILESTATUS")
        f = st["FileStatus"]
        self.assertEqual((f["permission"], f["owner"], f["group"], f["modificationTime"],
                          f["accessTime"]), ("1750", "alice", "staff", 1600000000123,
                                             1600000001000))
        self.assertRemote(self.s.nn("PUT", p, op="SETOWNER"), 400, "IllegalArgumentException",
                          "java.lang.IllegalArgumentException", "Both owner and group are empty.")
        self.assertRemote(self.s.nn("PUT", p, op="SETPERMISSION", permission="888"), 400,
                          "IllegalArgumentException", "java.lang.IllegalArgumentException",
                          'Invalid value for webhdfs parameter "permission": '
                          'Failed to parse "888" as a radix-8 short integer.')
        # Only the superuser gives a file away; an owner may change the group to one of theirs.
        self.assertRemote(self.s.nn("PUT", p, user="alice", op="SETOWNER", owner="bob"), 403,
                          "AccessControlException",
                          "org.apache.hadoop.security.AccessControlException",
                          "User alice is not a super user (non-super user cannot change owner).")
        self.assertEqual(self.s.nn("PUT", p, user="alice", op="SETOWNER", group="analysts")[0],
                         200)
        self.assertRemote(self.s.nn("PUT", p, user="alice", op="SETOWNER", group="other"), 403,
                          "AccessControlException",
                          "org.apache.hadoop.security.AccessControlException",
                          "User alice does not belong to other")
        self.assertRemote(self.s.nn("PUT", p, user="bob", op="SETPERMISSION", permission="777"),
                          403, "AccessControlException",
                          "org.apache.hadoop.security.AccessControlException",
                          "Permission denied. user=bob is not the owner of inode=" + p)
        self.assertRemote(self.s.nn("PUT", self.base + "/gone", op="SETTIMES",
                                    modificationtime="1"), 404, "FileNotFoundException",
                          "java.io.FileNotFoundException")

    def test_gethomedirectory(self):
        self.assertEqual(self.s.nn_json("GET", "/", user="alice", op="GETHOMEDIRECTORY"),
                         (200, {"Path": "/user/alice"}))

    # -- bad requests --------------------------------------------------------------------------

    def test_unknown_op_wrong_method_and_bad_paths_are_400(self):
        self.assertRemote(self.s.nn("GET", "/", op="NOSUCHOP"), 400, "IllegalArgumentException",
                          "java.lang.IllegalArgumentException",
                          'Invalid value for webhdfs parameter "op": No enum constant '
                          "org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.NOSUCHOP")
        self.assertRemote(self.s.nn("GET", "/", op="MKDIRS"), 400, "IllegalArgumentException",
                          "java.lang.IllegalArgumentException",
                          'Invalid value for webhdfs parameter "op": No enum constant '
                          "org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.MKDIRS")
        self.assertRemote(self.s.nn("GET", "/"), 400, "IllegalArgumentException",
                          "java.lang.IllegalArgumentException")
        self.assertRemote(self.s.nn("DELETE", "/x", op="DELETE", recursive="maybe"), 400,
                          "IllegalArgumentException", "java.lang.IllegalArgumentException",
                          'Invalid value for webhdfs parameter "recursive": '
                          'Failed to parse "maybe" to Boolean.')
        status, _, body = self.s.request(self.s.namenodes[0], "GET",
                                         "/webhdfs/v1/t/../../etc?op=GETFILESTATUS")
        self.assertRemote((status, body), 400, "InvalidPathException",
                          "org.apache.hadoop.fs.InvalidPathException",
                          "Invalid path name Invalid file name: /t/../../etc")

    # -- standby -------------------------------------------------------------------------------

    def test_standby_namenode_refuses_every_op_and_shares_the_namespace(self):
        read = ("Operation category READ is not supported in state standby. "
                "Visit https://s.apache.org/sbnn-error")
        write = read.replace("READ", "WRITE")
        for method, op, message in (("GET", "GETFILESTATUS", read), ("GET", "LISTSTATUS", read),
                                    ("GET", "LISTSTATUS_BATCH", read), ("GET", "OPEN", read),
                                    ("GET", "GETCONTENTSUMMARY", read),
                                    ("GET", "GETFILECHECKSUM", read),
                                    ("PUT", "CREATE", write), ("PUT", "MKDIRS", write),
                                    ("PUT", "RENAME", write), ("PUT", "SETPERMISSION", write),
                                    ("PUT", "SETOWNER", write), ("PUT", "SETTIMES", write),
                                    ("POST", "APPEND", write), ("DELETE", "DELETE", write)):
            self.assertRemote(self.s.nn(method, self.base, i=1, op=op), 403, "StandbyException",
                              "org.apache.hadoop.ipc.StandbyException", message)
        # Fail over: the second NameNode becomes active and sees what the first wrote.
        self.s.create(self.base + "/shared", b"seen by both")
        self.s.control("/standby?nn=0&state=standby")
        self.s.control("/standby?nn=1&state=active")
        self.assertEqual(self.s.nn("GET", self.base, i=0, op="GETFILESTATUS")[0], 403)
        status, headers, _ = self.s.nn("GET", self.base + "/shared", i=1, op="OPEN")
        self.assertEqual(status, 307)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))
        self.assertEqual(q["namenoderpcaddress"], "127.0.0.1:8021")
        self.assertEqual(self.s.follow(headers["Location"], "GET")[2], b"seen by both")
        self.s.control("/reset")
        self.assertEqual(self.s.nn("GET", self.base, i=0, op="GETFILESTATUS")[0], 200)
        self.assertEqual(self.s.nn("GET", self.base, i=1, op="GETFILESTATUS")[0], 403)

    # -- permissions ---------------------------------------------------------------------------

    def test_permissions_owner_group_other_and_superuser(self):
        b = self.base
        denied = ('Permission denied: user=%s, access=WRITE, inode="%s":hdfs:supergroup:'
                  "drwxr-xr-x")
        self.assertRemote(self.s.nn("PUT", b + "/x", user="alice", op="MKDIRS"), 403,
                          "AccessControlException",
                          "org.apache.hadoop.security.AccessControlException", denied % ("alice", b))
        self.assertRemote(self.s.create(b + "/f", b"x", user="alice"), 403,
                          "AccessControlException",
                          "org.apache.hadoop.security.AccessControlException", denied % ("alice", b))
        self.assertFalse(os.path.exists(self.s.local(b + "/f")))
        self.assertEqual(self.s.nn_json("DELETE", b, user="alice", op="DELETE", recursive="true")[0],
                         403)
        # Group bits: a directory of alice's group staff with 770.
        self.s.nn_json("PUT", b + "/team", op="MKDIRS", permission="770")
        self.s.nn("PUT", b + "/team", op="SETOWNER", owner="alice", group="staff")
        self.assertEqual(self.s.create(b + "/team/by-bob", b"bob", user="bob")[0], 201)
        _, st = self.s.nn_json("GET", b + "/team/by-bob", user="bob", op="GETFILESTATUS")
        self.assertEqual((st["FileStatus"]["owner"], st["FileStatus"]["group"]), ("bob", "staff"))
        # Other bits: carol may not even traverse a 770 directory.
        self.assertRemote(self.s.nn("GET", b + "/team/by-bob", user="carol", op="GETFILESTATUS"),
                          403, "AccessControlException",
                          "org.apache.hadoop.security.AccessControlException",
                          'Permission denied: user=carol, access=EXECUTE, inode="%s/team":'
                          "alice:staff:drwxrwx---" % b)
        self.assertEqual(self.s.read(b + "/team/by-bob", user="carol")[0], 403)
        self.assertEqual(self.s.nn("GET", b + "/team", user="carol", op="LISTSTATUS")[0], 403)
        # The superuser and members of supergroup pass every check.
        self.s.nn("PUT", b + "/team", op="SETPERMISSION", permission="0")
        self.assertEqual(self.s.read(b + "/team/by-bob", user="hdfs"), (200, b"bob"))
        self.assertEqual(self.s.read(b + "/team/by-bob", user="root2"), (200, b"bob"))
        self.assertEqual(self.s.read(b + "/team/by-bob", user="bob")[0], 403)
        # Read bit on the file itself.
        self.s.nn("PUT", b + "/team", op="SETPERMISSION", permission="755")
        self.s.nn("PUT", b + "/team/by-bob", op="SETPERMISSION", permission="600")
        self.assertRemote(self.s.read(b + "/team/by-bob", user="alice"), 403,
                          "AccessControlException",
                          "org.apache.hadoop.security.AccessControlException",
                          'Permission denied: user=alice, access=READ, inode="%s/team/by-bob":'
                          "bob:staff:-rw-------" % b)

    def test_missing_user_name_is_the_default_web_user(self):
        self.s.nn_json("PUT", self.base + "/open", op="MKDIRS", permission="777")
        self.assertEqual(self.s.create(self.base + "/open/f", b"x", user=None)[0], 201)
        _, st = self.s.nn_json("GET", self.base + "/open/f", user=None, op="GETFILESTATUS")
        self.assertEqual(st["FileStatus"]["owner"], "dr.who")

    # -- faults --------------------------------------------------------------------------------

    def test_drop_cuts_the_next_open_after_n_bytes(self):
        data = os.urandom(200000)
        self.s.create(self.base + "/big", data)
        self.s.control("/drop?count=1&after=70000")
        status, headers, _ = self.s.nn("GET", self.base + "/big", op="OPEN")
        loc = urllib.parse.urlsplit(headers["Location"])
        conn = http.client.HTTPConnection("127.0.0.1", loc.port, timeout=10)
        conn.request("GET", loc.path + "?" + loc.query)
        res = conn.getresponse()
        self.assertEqual(res.status, 200)
        self.assertEqual(res.getheader("Content-Length"), str(len(data)))
        with self.assertRaises(http.client.IncompleteRead) as cm:
            res.read()
        self.assertEqual(cm.exception.partial, data[:70000])
        conn.close()
        # Resuming at the offset reached gives the rest; the next transfer is whole.
        self.assertEqual(self.s.read(self.base + "/big", offset="70000"), (200, data[70000:]))
        self.assertEqual(self.s.read(self.base + "/big"), (200, data))

    def test_drop_cuts_the_next_creates_without_an_answer(self):
        self.s.control("/drop?count=2&after=1000")
        data = os.urandom(50000)
        for _ in range(2):
            with self.assertRaises((ConnectionError, http.client.RemoteDisconnected,
                                    BrokenPipeError)):
                self.s.create(self.base + "/cut", data, overwrite="true")
            # As on HDFS, what arrived before the cut is in the file.
            with open(self.s.local(self.base + "/cut"), "rb") as f:
                self.assertEqual(f.read(), data[:1000])
        self.assertEqual(self.s.create(self.base + "/cut", data, overwrite="true")[0], 201)
        self.assertEqual(self.s.read(self.base + "/cut"), (200, data))

    def control_state(self):
        status, _, body = self.s.request(self.s.control_port, "GET", "/state")
        self.assertEqual(status, 200)
        return json.loads(body)

    def test_delay_and_users_set_at_run_time_and_reset(self):
        self.s.control("/delay?ms=20")
        self.s.control("/user?name=dave&groups=staff")
        self.assertEqual(self.control_state()["delay_ms"], 20)
        # Requests are still answered, only later; dave is now in staff.
        self.s.nn_json("PUT", self.base + "/team", op="MKDIRS", permission="770")
        self.s.nn("PUT", self.base + "/team", op="SETOWNER", group="staff")
        self.assertEqual(self.s.create(self.base + "/team/f", b"d", user="dave")[0], 201)
        self.assertEqual(self.s.read(self.base + "/team/f", user="dave"), (200, b"d"))
        self.s.control("/reset")
        state = self.control_state()
        self.assertEqual((state["delay_ms"], state["drop_count"], "dave" in state["users"]),
                         (0, 0, False))
        self.assertEqual(self.s.read(self.base + "/team/f", user="dave")[0], 403)

    def test_control_rejects_bad_requests(self):
        for path in ("/standby?nn=7&state=standby", "/standby?nn=0&state=sleepy",
                     "/drop?count=x", "/queue?name=q&state=PAUSED", "/nothing"):
            status, _, _ = self.s.request(self.s.control_port, "POST", path)
            self.assertIn(status, (400, 404), path)

    # -- ResourceManager -----------------------------------------------------------------------

    def queues(self):
        status, _, body = self.s.request(self.s.rm, "GET", "/ws/v1/cluster/scheduler")
        self.assertEqual(status, 200)
        info = json.loads(body)["scheduler"]["schedulerInfo"]
        self.assertEqual((info["type"], info["queueName"]), ("capacityScheduler", "root"))

        def walk(q, prefix):
            out = {}
            for child in q.get("queues", {}).get("queue", []):
                name = prefix + child["queueName"]
                out[name] = child["state"]
                out.update(walk(child, name + "."))
            return out
        return walk(info, "")

    def test_resource_manager_queues_change_at_run_time(self):
        self.assertEqual(self.queues(), {"default": "RUNNING"})
        self.s.control("/queue?name=etl&state=STOPPED")
        self.s.control("/queue?name=prod.flink&state=RUNNING")
        self.assertEqual(self.queues(), {"default": "RUNNING", "etl": "STOPPED",
                                         "prod": "RUNNING", "prod.flink": "RUNNING"})
        self.s.control("/queue?name=default&state=absent")
        self.s.control("/queue?name=etl&state=RUNNING")
        self.assertEqual(self.queues(), {"etl": "RUNNING", "prod": "RUNNING",
                                         "prod.flink": "RUNNING"})
        self.s.control("/reset")
        self.assertEqual(self.queues(), {"default": "RUNNING"})
        status, _, _ = self.s.request(self.s.rm, "GET", "/ws/v1/cluster/nothing")
        self.assertEqual(status, 404)


class RequireUserTest(unittest.TestCase):
    def test_missing_user_name_is_401_security_exception(self):
        s = ServerProcess("--require-user")
        try:
            status, _, body = s.nn("GET", "/", user=None, op="GETFILESTATUS")
            self.assertEqual(status, 401)
            r = json.loads(body)["RemoteException"]
            self.assertEqual((r["exception"], r["javaClassName"]),
                             ("SecurityException", "java.lang.SecurityException"))
            self.assertTrue(r["message"].startswith("Failed to obtain user group information"))
            self.assertEqual(s.nn("GET", "/", user="hdfs", op="GETFILESTATUS")[0], 200)
        finally:
            s.stop()


class IPv6Test(unittest.TestCase):
    def test_binds_on_ipv6_loopback_and_redirects_there(self):
        s = ServerProcess("--namenodes", "2", "--standby", "0", host="::1")
        try:
            self.assertEqual(s.nn("GET", "/", i=0, op="GETFILESTATUS")[0], 403)
            status, headers, _ = s.nn("PUT", "/v6.txt", i=1, op="CREATE")
            self.assertEqual(status, 307)
            self.assertTrue(headers["Location"].startswith("http://[::1]:%d/" % s.datanode))
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))
            self.assertEqual(q["namenoderpcaddress"], "[::1]:8021")
            self.assertEqual(s.follow(headers["Location"], "PUT", b"six")[0], 201)
            with open(s.local("/v6.txt"), "rb") as f:
                self.assertEqual(f.read(), b"six")
        finally:
            s.stop()


class LifecycleTest(unittest.TestCase):
    def test_exits_when_its_stdin_closes(self):
        s = ServerProcess()
        try:
            s.proc.stdin.close()
            self.assertEqual(s.proc.wait(10), 0)
        finally:
            s.stop()

    def test_exits_on_sigterm(self):
        s = ServerProcess()
        try:
            s.proc.terminate()
            self.assertEqual(s.proc.wait(10), 0)
        finally:
            s.stop()


if __name__ == "__main__":
    unittest.main()
