# dockdap's watcher: reports changes under one folder of a container, one
# JSON object per line on stdout, for as long as its stdin stays open.
# It also removes files at dockdap's request (a deletion made in the
# workspace), each only while it still holds the content both sides last
# agreed on.
#
# Started once per session through one long-lived exec (an exec racing
# `docker pause` can wedge the container, so there are no periodic ones).
# inotify through ctypes where the kernel and libc allow it (it blocks: no
# CPU while nothing changes); else a stat walk at a modest pace. Changes
# are gathered until the folder is quiet for QUIET seconds (at most
# MAX_WAIT), then each changed path is reported once:
#
#   {"hello":1,"mode":"inotify"|"walk"}    first line
#   {"p":"a/b.py","data":B64,"mode":420}   a regular file with one link,
#                                          reached through real folders
#                                          (no symlink), unchanged while read
#   {"p":"a/b.py","gone":1}                nothing is at that path now
#   {"p":"a/b.py"}                         changed, but not provable here:
#                                          dockdap looks the usual way
#   {"p":"a","dir":1}                      a folder moved or removed
#   {"rescan":1}                           events were lost: read everything
#   {"p":"a/b.py","rm":"removed"}          the answer to a removal (below):
#                                          "removed", "kept" (it holds other
#                                          content now), "absent", or
#                                          "refused" with "why"
#
# On stdin, one request a line: {"rm":"a/b.py","sha256":HEX} removes the
# file if it still holds content with that SHA-256. It is renamed aside
# first and checked there, so a write landing meanwhile is never what goes
# (it is put back, or kept beside as NAME.dockdap-kept if the name was
# taken again meanwhile).
#
# dockdap treats all of it as untrusted input. Arguments: the folder, the
# most bytes a file's content is sent for (larger ones are only named);
# then optionally "rm" and one request as above: that removal alone, its
# answer, and the end (for a container where no watcher runs).
# DOCKDAP_WATCH=walk forces the stat walk (tests).
import base64, hashlib, json, os, select, stat, struct, sys, threading, time

ROOT = sys.argv[1].rstrip("/") or "/"
MAX_INLINE = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
SKIP = ("__pycache__", ".git")
QUIET, MAX_WAIT = 0.02, 0.15
MAX_PENDING = 5000
MAX_WALK = 20000
MAX_REMOVE = 32 << 20
OUT = sys.stdout.buffer
LOCK = threading.Lock()

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED, IN_ISDIR = 0x4000, 0x8000, 0x40000000
IN_ONLYDIR, IN_DONT_FOLLOW, IN_EXCL_UNLINK = 0x01000000, 0x02000000, 0x04000000
MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO
        | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK)


def emit(obj):
    line = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
    with LOCK:
        OUT.write(line)


def flush_out():
    with LOCK:
        OUT.flush()


def watch_stdin():
    # Removal requests, one a line, until dockdap is done (or gone): then end at once.
    buf = b""
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            os._exit(0)
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            request(line)
        if len(buf) > 1 << 16:
            buf = b""  # no request is that long


def request(line):
    try:
        req = json.loads(line)
        rel, want = req["rm"], req["sha256"]
        if not isinstance(rel, str) or not isinstance(want, str):
            return
    except (ValueError, KeyError, TypeError):
        return
    try:
        emit({"p": rel, "rm": remove(rel, want)})
    except OSError as e:
        emit({"p": rel, "rm": "refused", "why": "%s (%s)" % (e.strerror or e, rel)})
    flush_out()


REMOVALS = [0]


def held(dfd, name, want, ino):
    """Whether dfd/name is the regular file ino, holding content whose SHA-256 is want."""
    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    if not stat.S_ISREG(st.st_mode) or st.st_ino != ino or st.st_size > MAX_REMOVE:
        return False
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dfd)
    try:
        digest = hashlib.sha256()
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            digest.update(chunk)
        return digest.hexdigest() == want
    finally:
        os.close(fd)


def remove(rel, want):
    """Removes ROOT/rel if it is a regular file, reached through folders
    (no symlink followed), still holding content whose SHA-256 is want."""
    parts = rel.split("/")
    if any(p in ("", ".", "..") or "\0" in p for p in parts):
        raise OSError(22, "not a relative path")
    fds = []
    try:
        fds.append(os.open(ROOT, os.O_RDONLY | os.O_DIRECTORY))
        for name in parts[:-1]:
            fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fds[-1]))
        dfd, name = fds[-1], parts[-1]
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            return "kept"
        REMOVALS[0] += 1
        aside = ".%s.%d-%d.dockdap-tmp" % (name, os.getpid(), REMOVALS[0])
        os.rename(name, aside, src_dir_fd=dfd, dst_dir_fd=dfd)
        try:
            ok = held(dfd, aside, want, st.st_ino)
        except OSError:
            ok = False
        if ok:
            os.unlink(aside, dir_fd=dfd)
            return "removed"
        # Written meanwhile: put it back, never over a newer file.
        try:
            os.stat(name, dir_fd=dfd, follow_symlinks=False)
            os.rename(aside, name + ".dockdap-kept", src_dir_fd=dfd, dst_dir_fd=dfd)
        except FileNotFoundError:
            os.rename(aside, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        return "kept"
    except FileNotFoundError:
        return "absent"
    except ValueError as e:
        raise OSError(22, str(e))
    finally:
        for fd in fds:
            os.close(fd)


GONE = "gone"


def proven(rel):
    """The content and mode of ROOT/rel if it is a regular file with one
    link, reached through folders opened without following a symlink, and
    unchanged while read; GONE if nothing is there; else None."""
    parts = rel.split("/")
    fds = []
    try:
        fds.append(os.open(ROOT, os.O_RDONLY | os.O_DIRECTORY))
        for name in parts[:-1]:
            fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fds[-1]))
        st = os.stat(parts[-1], dir_fd=fds[-1], follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size > MAX_INLINE:
            return None
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=fds[-1])
        fds.append(fd)
        a = os.fstat(fd)
        if (a.st_dev, a.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(a.st_mode) or a.st_nlink != 1:
            return None
        chunks, size = [], 0
        while size <= MAX_INLINE:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        b = os.fstat(fd)
        if size > MAX_INLINE or b.st_nlink != 1 or b.st_ctime_ns != a.st_ctime_ns or b.st_size != size:
            return None
        return b"".join(chunks), stat.S_IMODE(a.st_mode)
    except FileNotFoundError:
        return GONE
    except (OSError, ValueError):
        return None
    finally:
        for fd in fds:
            os.close(fd)


def report(rel, is_dir):
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return  # dockdap syncs no such name
    if is_dir:
        emit({"p": rel, "dir": 1})
        return
    got = proven(rel)
    if got is GONE:
        emit({"p": rel, "gone": 1})
    elif got is None:
        emit({"p": rel})
    else:
        emit({"p": rel, "data": base64.b64encode(got[0]).decode(), "mode": got[1]})


def flush(pending):
    for rel, is_dir in pending.items():
        report(rel, is_dir)
    flush_out()
    pending.clear()


def skipped(name):
    return name in SKIP or name.endswith(".dockdap-tmp")


class Inotify:
    def __init__(self):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        self.ctypes, self.libc = ctypes, libc
        self.fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.dirs = {}  # wd -> relative folder ("" for the root)

    def add(self, rel):
        path = ROOT if not rel else ROOT + "/" + rel
        flags = MASK | IN_ONLYDIR | (IN_DONT_FOLLOW if rel else 0)
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), flags)
        if wd < 0:
            err = self.ctypes.get_errno()
            if err in (2, 20, 40):  # gone, not a folder, a symlink: nothing to watch
                return False
            raise OSError(err, "inotify_add_watch " + path)
        self.dirs[wd] = rel
        return True

    def add_tree(self, rel, pending):
        """Watches folder rel and every folder below it; files already in
        them (made before the watch) are reported."""
        stack = [rel]
        while stack:
            top = stack.pop()
            if not self.add(top):
                continue
            try:
                entries = list(os.scandir(ROOT + "/" + top if top else ROOT))
            except OSError:
                continue
            for e in entries:
                if skipped(e.name):
                    continue
                child = top + "/" + e.name if top else e.name
                if e.is_dir(follow_symlinks=False):
                    stack.append(child)
                elif pending is not None:
                    pending[child] = False

    def run(self):
        pending = {}
        self.add_tree("", None)
        emit({"hello": 1, "mode": "inotify"})
        flush_out()
        first = last = 0.0
        while True:
            timeout = None
            if pending:
                now = time.monotonic()
                timeout = max(0.0, min(last + QUIET, first + MAX_WAIT) - now)
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                flush(pending)
                continue
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                continue
            now = time.monotonic()
            if not pending:
                first = now
            last = now
            off = 0
            while off + 16 <= len(buf):
                wd, mask, _cookie, size = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16:off + 16 + size].split(b"\0", 1)[0]
                off += 16 + size
                if mask & IN_Q_OVERFLOW:
                    pending.clear()
                    emit({"rescan": 1})
                    flush_out()
                    continue
                if mask & IN_IGNORED:
                    self.dirs.pop(wd, None)
                    continue
                top = self.dirs.get(wd)
                if top is None or not name:
                    continue
                name = os.fsdecode(name)
                if skipped(name):
                    continue
                rel = top + "/" + name if top else name
                if mask & IN_ISDIR:
                    if mask & (IN_CREATE | IN_MOVED_TO):
                        self.add_tree(rel, pending)
                    elif mask & (IN_MOVED_FROM | IN_DELETE):
                        pending[rel] = True
                else:
                    pending[rel] = False
            if len(pending) > MAX_PENDING:
                pending.clear()
                emit({"rescan": 1})
                flush_out()


def walk():
    """Every folder and file under ROOT: relative path -> what changes when it does."""
    seen = {}
    stack = [""]
    while stack and len(seen) < MAX_WALK:
        top = stack.pop()
        try:
            entries = list(os.scandir(ROOT + "/" + top if top else ROOT))
        except OSError:
            continue
        for e in entries:
            if skipped(e.name):
                continue
            rel = top + "/" + e.name if top else e.name
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            seen[rel] = (is_dir, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if is_dir:
                stack.append(rel)
    return seen


def run_walk():
    # The first walk before the greeting: what changes after it is seen.
    before = walk()
    emit({"hello": 1, "mode": "walk"})
    flush_out()
    while True:
        took = time.monotonic()
        now = walk()
        took = time.monotonic() - took
        pending = {}
        for rel, what in now.items():
            if before.get(rel) != what and not what[0]:
                pending[rel] = False
        for rel, what in before.items():
            if rel not in now:
                pending[rel] = what[0]
        before = now
        if len(pending) > MAX_PENDING:
            emit({"rescan": 1})
            flush_out()
        elif pending:
            flush(pending)
        # A modest pace: at most a twentieth of the time walking.
        time.sleep(max(0.5, took * 20))


if len(sys.argv) > 4 and sys.argv[3] == "rm":
    request(sys.argv[4].encode())
    sys.exit(0)
threading.Thread(target=watch_stdin, daemon=True).start()
if os.environ.get("DOCKDAP_WATCH") == "walk":
    run_walk()
try:
    watcher = Inotify()
except Exception:
    run_walk()
try:
    watcher.run()
except OSError:
    # Out of watches, or inotify broke: the walk goes on from here.
    emit({"rescan": 1})
    run_walk()
