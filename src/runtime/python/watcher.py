# dockdap's watcher: reports changes under one folder of a container, one
# JSON object per line on stdout, for as long as its stdin stays open.
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
#
# dockdap treats all of it as untrusted input. Arguments: the folder, the
# most bytes a file's content is sent for (larger ones are only named).
# DOCKDAP_WATCH=walk forces the stat walk (tests).
import base64, json, os, select, stat, struct, sys, threading, time

ROOT = sys.argv[1].rstrip("/") or "/"
MAX_INLINE = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
SKIP = ("__pycache__", ".git")
QUIET, MAX_WAIT = 0.02, 0.15
MAX_PENDING = 5000
MAX_WALK = 20000
OUT = sys.stdout.buffer

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED, IN_ISDIR = 0x4000, 0x8000, 0x40000000
IN_ONLYDIR, IN_DONT_FOLLOW, IN_EXCL_UNLINK = 0x01000000, 0x02000000, 0x04000000
MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO
        | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK)


def emit(obj):
    OUT.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")


def watch_stdin():
    # dockdap is done (or gone): end at once.
    while os.read(0, 4096):
        pass
    os._exit(0)


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
    OUT.flush()
    pending.clear()


def skipped(name):
    return name in SKIP


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
        OUT.flush()
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
                    OUT.flush()
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
                OUT.flush()


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
    OUT.flush()
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
            OUT.flush()
        elif pending:
            flush(pending)
        # A modest pace: at most a twentieth of the time walking.
        time.sleep(max(0.5, took * 20))


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
