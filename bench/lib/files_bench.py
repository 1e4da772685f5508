#!/usr/bin/env python3
"""The files-tree benchmark behind bench/files.sh (see docs/benchmarks.md, "Files trees").

Measures, on one generated tree, flinkbr's backup (to LocalDir) and restore through the real
daemon and CLI next to `tar czf`, `tar cf - | pigz -p2 -6`, `tar cf - | igzip -1` (ISA-L, the
fastest one-liner an operator can script), `tar cf - | cat` (the read limit), and `tar xzf` and
`igzip -dc | tar xf -` of flinkbr's own file, and prints a table with the ratios. Every flinkbr measurement starts a fresh daemon (its own
state directory, a free loopback port) so that its peak RSS (VmHWM) belongs to that run alone.
Restores and `tar xzf` are run in pairs, one after the other, `--rounds` times: extraction
speed on these VMs swings from run to run, so only pairs measured together compare.

Each extraction (`tar xzf` and flinkbr's restore) writes into a file system made for it alone
(a fresh ext4 on a loop device) when the benchmark runs as root and the kernel allows loop
mounts: ext4 allocates inodes slowly next to many recently deleted ones (its allocator skips
them for up to 300 s), so on a shared disk whichever tool runs right after a large deletion
pays for it, and the pair measures the file system's history rather than the tools.
"""
import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime

MB = 1_000_000


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(cmd, cwd=None):
    """Runs `cmd` (a shell line) in a fresh child; wall seconds and the children's peak RSS (KiB).

    The peak comes from a helper process whose only children are this command's, so it is this
    command's largest process (for a pipeline: its largest member)."""
    helper = (
        "import resource,subprocess,sys,time;t=time.monotonic();"
        "r=subprocess.run(sys.argv[1],shell=True);w=time.monotonic()-t;"
        "print(w,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);sys.exit(r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", helper, cmd], cwd=cwd, check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    return float(out[0]), int(out[1])


def tree_bytes(root):
    total = 0
    for d, _, files in os.walk(root):
        for f in files:
            total += os.lstat(os.path.join(d, f)).st_size
    return total


class FreshFs:
    """A freshly formatted ext4 file system on a loop device, mounted at `<work>/fresh-fs`, for
    one extraction; `path` is None (and `why` says why) when it cannot be made."""

    def __init__(self, work, size_bytes, inodes, enabled):
        self.path, self.why = None, None
        self.image = os.path.join(work, "fresh-fs.img")
        mnt = os.path.join(work, "fresh-fs")
        if not enabled:
            self.why = "--shared-disk given"
            return
        if os.geteuid() != 0:
            self.why = "not root: loop mounts need root"
            return
        subprocess.run(["umount", mnt], stderr=subprocess.DEVNULL)
        with open(self.image, "wb") as f:
            f.truncate(size_bytes)
        # Inode tables written now (not by ext4lazyinit in the background during the run).
        mk = subprocess.run(["mkfs.ext4", "-q", "-F", "-N", str(inodes), "-E",
                             "lazy_itable_init=0,lazy_journal_init=0", self.image],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        os.makedirs(mnt, exist_ok=True)
        mt = mk.returncode == 0 and subprocess.run(
            ["mount", "-o", "loop", self.image, mnt], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        if mk.returncode != 0 or mt.returncode != 0:
            self.why = "cannot make a loop file system: " + (mk.stdout if mk.returncode else
                                                              mt.stdout).strip()
            os.unlink(self.image)
            return
        self.path = mnt

    def close(self):
        if self.path:
            subprocess.run(["umount", self.path], check=True)
            self.path = None
        if os.path.exists(self.image):
            os.unlink(self.image)


class Daemon:
    """A flinkbr daemon with its own state directory; stopped (SIGTERM) on close."""

    def __init__(self, binary, work, name, dataset, target):
        self.binary = binary
        self.dir = os.path.join(work, "daemons", name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        cfg = os.path.join(self.dir, "flinkbr.yaml")
        # Two clusters of the same version: `bench` backs up the dataset, `target` is restored
        # into an empty directory (so its safety copy is small). Their Flink services are
        # harmless commands: always stopped.
        svc = '{ status: "exit 3", stop: "true", start: "true", timeout: 10s }'
        with open(cfg, "w") as f:
            f.write("server:\n  listen: 127.0.0.1:%d\n  state_dir: %s\n" %
                    (self.port, os.path.join(self.dir, "state")))
            f.write("clusters:\n")
            for cname, uri in (("bench", dataset), ("target", target)):
                f.write('  - name: %s\n    version: "1.18.1"\n    service: %s\n' % (cname, svc))
                f.write('    metadata:\n      - { name: tree, type: files, uri: "file://%s" }\n'
                        % uri)
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, "serve", "--config", cfg], stdout=self.log_file,
                                     stderr=subprocess.STDOUT)
        self.env = dict(os.environ, FLINKBR_SERVER=self.url,
                        FLINKBR_CONFIG_DIR=os.path.join(self.dir, "cli"))
        for _ in range(300):
            if self.proc.poll() is not None:
                raise RuntimeError("the daemon exited at start; see " + self.log_path)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                pw = os.path.join(self.dir, "state", "initial-admin-password")
                if os.path.exists(pw):
                    with open(pw) as f:
                        self.cli("login", "--user", "admin", input=f.read())
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the daemon did not start; see " + self.log_path)

    def cli(self, *args, input=None):
        r = subprocess.run([self.binary, *args], env=self.env, input=input, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("flinkbr %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def timed_cli(self, *args):
        t = time.monotonic()
        self.cli(*args)
        return time.monotonic() - t

    def vm_hwm_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def reset_peak(self):
        """Resets VmHWM (Linux: 5 > clear_refs), so that the peak measured next is the run's
        and not the login's (its password hash, argon2id, takes 64 MiB for a moment)."""
        try:
            with open("/proc/%d/clear_refs" % self.proc.pid, "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def log_seconds(self, first, second):
        """Seconds between the first daemon log lines ending with `first` and with `second`."""
        stamps = {}
        pat = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z \S+ (.*)$")
        with open(self.log_path) as f:
            for line in f:
                m = pat.match(line.strip())
                if not m:
                    continue
                for key in (first, second):
                    if key not in stamps and re.search(key, m.group(2)):
                        stamps[key] = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
        if first in stamps and second in stamps:
            return (stamps[second] - stamps[first]).total_seconds()
        return None

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--mode", choices=["default", "quick", "big"], default="default")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--shared-disk", action="store_true",
                    help="extract on the work directory's disk instead of a fresh file system")
    a = ap.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    small, large = {"default": (20000, 50), "quick": (2000, 5), "big": (100000, 250)}[a.mode]
    data = os.path.join(a.work, "data-%s" % a.mode)
    tree = os.path.join(data, "tree")
    marker = os.path.join(data, "complete-v1")
    if not os.path.exists(marker):
        log("generating the dataset (%d small files, %d large) in %s ..." % (small, large, tree))
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(tree)
        subprocess.run([sys.executable, os.path.join(here, "gen_files_tree.py"), tree,
                        "--small", str(small), "--large", str(large)], check=True,
                       stdout=subprocess.DEVNULL)
        open(marker, "w").close()
    size = tree_bytes(tree)
    nfiles = sum(len(f) for _, _, f in os.walk(tree))
    out = os.path.join(a.work, "out")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    parent, base = os.path.dirname(tree), os.path.basename(tree)
    log("dataset: %s, %d files, %.0f MB" % (tree, nfiles, size / MB))

    rows = []  # (group, name, seconds, compressed bytes or None, peak KiB or None, note)

    def tool(group, name, cmd, output=None):
        log("  %s ..." % name)
        secs, rss = measure(cmd)
        comp = os.path.getsize(output) if output else None
        rows.append((group, name, secs, comp, rss, ""))
        return secs

    # Warm the page cache once, so that every pipeline reads the tree from memory.
    subprocess.run("tar cf - -C '%s' '%s' | cat > /dev/null" % (parent, base), shell=True,
                   check=True)
    big = a.mode == "big"
    log("backup side:")
    tool("backup", "tar cf - | cat (reading)",
         "tar cf - -C '%s' '%s' | cat > /dev/null" % (parent, base))
    if not big:
        tool("backup", "tar czf (gzip -6)", "tar czf '%s/t.tar.gz' -C '%s' '%s'" %
             (out, parent, base), os.path.join(out, "t.tar.gz"))
    tool("backup", "tar cf - | igzip -1",
         "tar cf - -C '%s' '%s' | igzip -1 > '%s/i.tar.gz'" % (parent, base, out),
         os.path.join(out, "i.tar.gz"))
    if not big:
        tool("backup", "tar cf - | pigz -p2 -6",
             "tar cf - -C '%s' '%s' | pigz -p2 -6 > '%s/p.tar.gz'" % (parent, base, out),
             os.path.join(out, "p.tar.gz"))

    target = os.path.join(out, "restore", "tree")
    os.makedirs(target)
    backups = os.path.join(out, "backups")
    log("  flinkbr backup run --wait ...")
    d = Daemon(a.binary, a.work, "backup", tree, target)
    try:
        d.cli("backup", "create", "bench", "--cluster", "bench", "--data-source", "Flink",
              "--path-type", "LocalDir", "--path", backups)
        reset = d.reset_peak()
        secs = d.timed_cli("backup", "run", "bench", "--wait")
        hwm = d.vm_hwm_kib()
        server_secs = d.log_seconds("backing up source", r"backup bench: wrote ")
        rec = json.loads(d.cli("backup", "history", "bench", "--json"))[0]
        backup_file = rec["backup_path"]
    finally:
        d.close()
    peak_note = "daemon VmHWM" + ("" if reset else ", login included")
    rows.append(("backup", "flinkbr backup run --wait (CLI)", secs, os.path.getsize(backup_file),
                 hwm, peak_note))
    rows.append(("backup", "flinkbr backup, in the daemon", server_secs,
                 os.path.getsize(backup_file), None, "first to last log line of the run"))

    # flinkbr's file is a standard tar.gz.
    checks = []
    for name, cmd in (("gzip -t", "gzip -t '%s'" % backup_file),
                      ("tar tzf", "tar tzf '%s' > /dev/null" % backup_file)):
        r = subprocess.run(cmd, shell=True)
        checks.append("%s %s" % (name, "ok" if r.returncode == 0 else "FAILED"))
    log("  " + ", ".join(checks))

    log("restore side (pairs):")
    # A fresh file system per extraction (see the module comment): room for the tree twice
    # (flinkbr stages beside the live tree), inodes for every entry a few times over.
    fs_bytes = 2 * size + 512 * 1024 * 1024
    fs_inodes = max(65536, 4 * nfiles)
    fs_note = None
    pairs = []
    for i in range(a.rounds):
        fs = FreshFs(a.work, fs_bytes, fs_inodes, not a.shared_disk)
        fs_note = fs_note or fs.why
        try:
            xzf_dir = os.path.join(fs.path or out, "xzf")
            shutil.rmtree(xzf_dir, ignore_errors=True)
            os.makedirs(xzf_dir)
            log("  round %d: tar xzf ..." % (i + 1))
            x_secs, x_rss = measure("tar xzf '%s' -C '%s' && sync -f '%s'" %
                                    (backup_file, xzf_dir, xzf_dir))
            shutil.rmtree(xzf_dir, ignore_errors=True)
        finally:
            fs.close()
        fs = FreshFs(a.work, fs_bytes, fs_inodes, not a.shared_disk)
        try:
            ig_dir = os.path.join(fs.path or out, "igzip")
            shutil.rmtree(ig_dir, ignore_errors=True)
            os.makedirs(ig_dir)
            log("  round %d: igzip -dc | tar xf - ..." % (i + 1))
            i_secs, i_rss = measure("igzip -dc '%s' | tar xf - -C '%s' && sync -f '%s'" %
                                    (backup_file, ig_dir, ig_dir))
            shutil.rmtree(ig_dir, ignore_errors=True)
        finally:
            fs.close()
        log("  round %d: flinkbr restore start --wait ..." % (i + 1))
        fs = FreshFs(a.work, fs_bytes, fs_inodes, not a.shared_disk)
        try:
            target = os.path.join(fs.path or out, "restore", "tree")
            shutil.rmtree(os.path.dirname(target), ignore_errors=True)
            os.makedirs(target)
            d = Daemon(a.binary, a.work, "restore-%d" % i, tree, target)
            try:
                d.cli("restore", "create", "r", "--cluster", "target", "--data-source", "Flink",
                      "--path-type", "LocalDir", "--source-path", backup_file)
                d.reset_peak()
                r_secs = d.timed_cli("restore", "start", "r", "--wait")
                r_hwm = d.vm_hwm_kib()
                # One pass since issue 18: the verify step inflates, checks and stages.
                verify = d.log_seconds(r": step verify$", r": step safety-copy$")
                rest = d.log_seconds(r": step safety-copy$", r"restoration succeeded")
                whole = d.log_seconds(r": step check$", r"restoration succeeded")
            finally:
                d.close()
            if tree_bytes(target) != size:
                raise RuntimeError("the restored tree differs in size from the dataset")
            shutil.rmtree(os.path.dirname(target), ignore_errors=True)
        finally:
            fs.close()
        pairs.append((x_secs, x_rss, r_secs, r_hwm, rest, verify, whole, i_secs, i_rss))
    fs_where = ("a fresh ext4 per extraction" if not fs_note else
                "the work directory's disk (%s)" % fs_note)
    log("  extractions written to " + fs_where)

    def best(i):
        vals = [p[i] for p in pairs if p[i] is not None]
        return min(vals) if vals else None

    rows.append(("restore", "tar xzf + sync -f (flinkbr's file)", best(0), None, best(1),
                 "best of %d" % a.rounds))
    rows.append(("restore", "igzip -dc | tar xf - + sync -f (flinkbr's file)", best(7), None,
                 best(8), "best of %d" % a.rounds))
    rows.append(("restore", "flinkbr restore, verify step", best(5), None, None,
                 "one pass: inflate, check every entry, write the staged tree, syncfs"))
    rows.append(("restore", "flinkbr restore, after the verify step", best(4), None, None,
                 "safety copy, report of changes, apply, verify-result"))
    rows.append(("restore", "flinkbr restore, in the daemon", best(6), None, None,
                 "check, verify (stages), safety copy, apply, verify-result"))
    rows.append(("restore", "flinkbr restore start --wait (CLI)", best(2), None, best(3),
                 "daemon VmHWM"))

    # ---- the table ----
    def find(name):
        for r in rows:
            if r[1].startswith(name):
                return r
        return None

    czf, pigz, xzf = find("tar czf"), find("tar cf - | pigz"), find("tar xzf")
    igz, igx, cat = find("tar cf - | igzip"), find("igzip -dc"), find("tar cf - | cat")
    print()
    print("dataset: %d files, %.0f MB (%s); %d cores; %s" %
          (nfiles, size / MB, a.mode, os.cpu_count(), time.strftime("%Y-%m-%d %H:%M UTC",
                                                                    time.gmtime())))
    print("flinkbr file: %s" % ", ".join(checks))
    print()
    print("| pipeline | seconds | MB/s | compressed MB | size vs gzip -6 | peak RSS MiB | "
          "speed vs tar czf | vs pigz -p2 | vs tar \\| igzip -1 | vs tar \\| cat | "
          "vs tar xzf | vs igzip -dc \\| tar x |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for group, name, secs, comp, rss, note in rows:
        if secs is None:
            continue
        label = (name + (" (%s)" % note if note else "")).replace("|", "\\|")
        cells = [label, "%.2f" % secs, "%.0f" % (size / MB / secs)]
        cells.append("%.1f" % (comp / MB) if comp else "")
        cells.append("%.2f" % (comp / czf[3]) if comp and czf else "")
        cells.append("%.0f" % (rss / 1024) if rss else "")
        if group == "backup":
            cells.append("%.1f×" % (czf[2] / secs) if czf else "")
            cells.append("%.1f×" % (pigz[2] / secs) if pigz else "")
            cells.append("%.2f×" % (igz[2] / secs) if igz else "")
            cells.append("%.2f×" % (cat[2] / secs) if cat else "")
            cells += ["", ""]
        else:
            cells += ["", "", "", "", "%.2f×" % (xzf[2] / secs) if xzf else "",
                      "%.2f×" % (igx[2] / secs) if igx else ""]
        print("| " + " | ".join(cells) + " |")
    print()
    print("restore rounds, seconds: tar xzf + sync -f | igzip -dc | tar xf - + sync -f | "
          "flinkbr after verify | flinkbr verify step | flinkbr in the daemon | flinkbr CLI")
    fmt = lambda v: "%.2f" % v if v is not None else "-"
    for x_secs, _, r_secs, _, rest, verify, whole, i_secs, _ in pairs:
        print("  %s | %s | %s | %s | %s | %s" % (fmt(x_secs), fmt(i_secs), fmt(rest),
                                                 fmt(verify), fmt(whole), fmt(r_secs)))
    print()
    print("ratios (speed, higher is faster for flinkbr):")
    bk = find("flinkbr backup run")
    if bk and igz:
        print("  backup CLI vs tar | igzip -1: %.2fx (target 1.5x); size vs gzip -6: %s; "
              "vs tar | cat: %.2fx" % (igz[2] / bk[2], "%.2f" % (bk[3] / czf[3]) if czf else
                                       "-", cat[2] / bk[2]))
    rs = find("flinkbr restore start")
    if rs and igx:
        print("  restore CLI vs igzip -dc | tar xf - && sync: %.2fx (target 1.0x); "
              "vs tar xzf: %.2fx" % (igx[2] / rs[2], xzf[2] / rs[2]))
    print("extractions written to " + fs_where)
    print("The CLI's --wait follows the daemon's event stream (it polls only without one).")
    print("load average at the end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))


if __name__ == "__main__":
    main()
