"""The attempt monitor: what a grading kernel's code tried to do outside its sandbox.

sandbox.py starts the kernel as `python -c <this file> SETTINGS -m ipykernel_launcher ...`,
so `main()` runs first in the kernel process: it installs a Python audit hook, then runs the
kernel. The hook sees every file open, removal, rename, directory listing, socket connect and
program start made through Python, and reports as one JSON line each, on a pipe whose other
end only the grader holds, those the sandbox refuses by its own rules (a write, removal or
move outside the working copy, a read under the course root, a TCP connection or listening
port), and a few it lets through but no notebook needs: listing a folder of the course root,
changing the owner or permissions of a file outside the copy, starting a program whose
command line names the course root or another kernel's copy.

Why a submission cannot erase or forge a report:
- an audit hook cannot be removed from Python, and this one is installed before ipykernel
  (so before any student code); forked copies of the kernel inherit it;
- a report is written to the pipe the moment the attempt is made; what is in a pipe cannot
  be taken back by the writer, and the pipe is not a file the submission can reach;
- the hook sends at most PIPE_CAP lines, so only lines of the submission's own can fill the
  pipe, and any line the monitor cannot have written is itself reported by the grader;
  made-up attempts only flag the submission that wrote them;
- closing or replacing the pipe's descriptor is seen by the grader, which checks from
  outside (/proc/<kernel>/fd) that the descriptor still is its pipe after the notebook.
What it does not see: code that calls the C library itself (ctypes) or opens a file by a
folder's descriptor (os.open(name, dir_fd=...): the folder's opening is seen), what programs
the submission starts do themselves, a descriptor swapped and put back before the notebook
ends, and code that first rewrites the standard library's path functions the hook relies on
(it runs in the same interpreter: a determined submission can blind it, never free itself). The sandbox (Landlock) holds in every case: the monitor tells, it does not stop.

Standard library only: it also runs as a script, before the kernel's own imports.
"""

import json
import os
import sys
from _thread import get_ident

PIPE_CAP = 64       # reports one kernel process sends at most (each under PIPE_BUF bytes)
TARGET_CHARS = 300  # characters of a path or command line kept
OPS = {  # operation -> how a tutor reads it
    "write": "write", "read": "read", "list": "list", "delete": "delete", "create": "create",
    "rename": "move", "link": "link", "chmod": "change the permissions of", "chown": "change the owner of",
    "connect": "connect to", "bind": "listen on", "run": "run",
}
SIGNS = {  # what the grader itself sees of the monitor's channel
    "foreign": "write lines of its own to the attempt monitor's channel:",
    "unplug": "close or replace the attempt monitor's channel",
}


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def install(settings: dict) -> None:
    """Install the audit hook; reports go to settings["fd"], a pipe's write end."""
    import socket

    fd = settings["fd"]
    # Held here, so that a submission replacing os.write or json.dumps does not silence reports.
    write, dumps = os.write, json.dumps
    os.set_inheritable(fd, False)  # programs the kernel starts do not get it; forked copies do
    os.set_blocking(fd, False)     # a full pipe drops reports rather than hanging the kernel
    real = os.path.realpath
    workdir = real(settings["workdir"])
    writable = [real(p) for p in settings.get("writable", [])] + [workdir]
    hidden = [real(settings["hidden"])] if settings.get("hidden") else []
    # a command line naming these is reported: the course root, other kernels' copies
    watched = hidden + [real(p) for p in settings.get("watched", [])]
    ports = set(settings.get("ports", [])) | {0}
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    sent: set = set()
    busy: set = set()

    def send(op: str, target: str) -> None:
        key = (op, target[:TARGET_CHARS])
        if key in sent or len(sent) > PIPE_CAP:
            return
        sent.add(key)
        if len(sent) > PIPE_CAP:
            key = ("more", "")
        line = dumps({"op": key[0], "target": key[1]}) + "\n"
        try:
            write(fd, line.encode("utf-8", "replace"))
        except OSError:  # full, closed or replaced: the grader notices the last two
            pass

    def path_of(path, dir_fd=None, follow=True) -> str | None:
        if path is None or isinstance(path, int):
            return None
        path = os.fsdecode(os.fspath(path))
        if not os.path.isabs(path):
            start = os.getcwd() if dir_fd is None else os.readlink(f"/proc/self/fd/{dir_fd}")
            path = os.path.join(start, path)
        if follow:
            return real(path)
        head, tail = os.path.split(os.path.normpath(path))
        return os.path.join(real(head), tail)

    def outside(path) -> bool:
        return path is not None and not _under(path, writable)

    def opened(path, mode, flags, *rest):
        target = path_of(path)
        if target is None:
            return
        writing = flags & write_flags if isinstance(flags, int) else any(c in str(mode) for c in "wax+")
        if writing and outside(target):
            send("write", target)
        elif not writing and _under(target, hidden):
            send("list" if os.path.isdir(target) else "read", target)

    def listed(path=".", *rest):
        target = path_of("." if path is None else path)
        if target is not None and _under(target, hidden):
            send("list", target)

    def changed(op, fd_at, follow=False):
        def check(path, *rest):
            dir_fd = rest[fd_at - 1] if fd_at and len(rest) >= fd_at else None
            target = path_of(path, dir_fd, follow)
            # making a folder that exists fails before the sandbox is asked (os.makedirs tries)
            if outside(target) and not (op == "create" and os.path.lexists(target)):
                send(op, target)
        return check

    def two_paths(op):
        def check(src, dst, src_fd=None, dst_fd=None, *rest):
            a, b = path_of(src, src_fd, follow=False), path_of(dst, dst_fd, follow=False)
            if outside(a) or outside(b) or (op == "link" and _under(a or "", hidden)):
                send(op, f"{a} -> {b}")
        return check

    def symlinked(src, dst, dir_fd=None, *rest):
        target = path_of(dst, dir_fd, follow=False)
        if outside(target):
            send("create", target)

    def connected(sock, address, *rest):
        family = getattr(sock, "family", None)
        if family in (socket.AF_INET, socket.AF_INET6) and getattr(sock, "type", None) == socket.SOCK_STREAM:
            send("connect", f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address))
        elif family == getattr(socket, "AF_UNIX", None):
            if isinstance(address, (str, bytes)) and address[:1] in ("\0", b"\0"):
                send("connect", f"abstract socket {address[1:]!r}")

    def bound(sock, address, *rest):
        family = getattr(sock, "family", None)
        if family in (socket.AF_INET, socket.AF_INET6) and getattr(sock, "type", None) == socket.SOCK_STREAM:
            if isinstance(address, tuple) and address[1] not in ports:
                send("bind", f"port {address[1]}")

    def started(*args):
        words = []
        for arg in args:
            if isinstance(arg, (str, bytes, os.PathLike)):
                words.append(os.fsdecode(os.fspath(arg)))
            elif isinstance(arg, (list, tuple)):
                words += [os.fsdecode(os.fspath(a)) for a in arg if isinstance(a, (str, bytes, os.PathLike))]
        line = " ".join(words)
        for word in line.replace("=", " ").replace(":", " ").split():
            word = word.strip("'\"")
            target = path_of(word, follow=False) if "/" in word else None
            if target and _under(target, watched) and not _under(target, [workdir]):
                send("run", line)
                return

    handlers = {
        "open": opened,
        "os.listdir": listed, "os.scandir": listed,
        # the argument after the path that is a directory descriptor, if any
        "os.remove": changed("delete", 1), "os.rmdir": changed("delete", 1), "shutil.rmtree": changed("delete", 1),
        "os.mkdir": changed("create", 2), "os.truncate": changed("write", 0, follow=True),
        "os.chmod": changed("chmod", 2, follow=True), "os.chown": changed("chown", 3, follow=True),
        "os.rename": two_paths("rename"), "os.link": two_paths("link"), "os.symlink": symlinked,
        "socket.connect": connected, "socket.bind": bound,
        "subprocess.Popen": started, "os.exec": started, "os.posix_spawn": started,
        "os.spawn": lambda mode, *args: started(*args), "os.system": started,
    }

    def hook(event, args):
        handler = handlers.get(event)
        if handler is None:
            return
        me = get_ident()
        if me in busy:
            return
        busy.add(me)
        try:
            handler(*args)
        except Exception:  # the hook must never break the code it watches
            pass
        finally:
            busy.discard(me)

    sys.addaudithook(hook)
    send("ready", "")


def main(argv: list[str]) -> None:
    """argv: [-c, SETTINGS, -m, MODULE, ARGS...]: install the hook, then run MODULE as -m would."""
    import runpy

    settings = json.loads(argv[1])
    if argv[2] != "-m":
        raise SystemExit(f"monitor: expected -m MODULE, got {argv[2:]}")
    install(settings)
    sys.argv = [argv[3], *argv[4:]]
    sys.path[0] = os.getcwd()
    runpy.run_module(argv[3], run_name="__main__", alter_sys=True)


# -- the grader's side ------------------------------------------------------------


def parse(data: bytes) -> tuple[bool, list[tuple[str, str]], int]:
    """From what the pipe held: (the monitor started, its reports in order without repeats,
    the number of lines the monitor cannot have written)."""
    ready, reports, foreign = False, [], 0
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if not (isinstance(item, dict) and isinstance(item.get("target"), str)
                and (item.get("op") in OPS or item.get("op") in ("ready", "more"))):
            foreign += 1
            continue
        op, target = item["op"], item["target"][:TARGET_CHARS]
        if op == "ready":
            ready = True
        elif (op, target) not in reports:
            reports.append((op, target))
    return ready, reports, foreign


def printable(text: str) -> str:
    """Text safe to print on a terminal or in a table: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def named(reports: list[tuple[str, str]], root: str | None = None) -> list[str]:
    """Each attempt as a tutor reads it ("write <course>/source/a/a.ipynb")."""
    items = []
    for op, target in reports:
        if op in OPS or op in SIGNS:
            if root:  # the course root by a short name: what matters is what is under it
                target = target.replace(root.rstrip(os.sep) + os.sep, "<course>/")
            items.append(f"{OPS.get(op) or SIGNS[op]} {printable(target)}".rstrip())
    return items


def describe(reports: list[tuple[str, str]], root: str | None = None, shown: int = 8) -> str:
    """One sentence for a tutor: what the code tried, the first few attempts named."""
    items = named(reports, root)
    text = ", ".join(items[:shown])
    if any(op == "more" for op, _ in reports):
        text += " and more"
    elif len(items) > shown:
        text += f" and {len(items) - shown} more"
    return f"tried to reach outside its sandbox: {text}"


if __name__ == "__main__":
    main(sys.argv)
