"""Launch a kernel with limits: `python -I -S sandbox.py SETTINGS_JSON -- KERNEL_CMD...`.

Run as a script (standard library only, no `course` import), it applies the limits to
itself and then execs the kernel, so they hold for the kernel and anything it starts:

- processes: it joins the kernel's own cgroup (pids.max: a fork bomb stops there, and the
  grader can stop every process of the kernel, see processes.py); without one, and not as
  root, RLIMIT_NPROC bounds the user's processes a little above their number now;
- memory: RLIMIT_AS (address space), plus RLIMIT_FSIZE (largest file) and no core dumps;
- privileges: run as root, the kernel keeps no capabilities (so it cannot raise its limits,
  load modules or bypass file permissions);
- files (Linux Landlock, when the kernel supports it): writes only inside the working
  copy, /dev and /dev/shm; no reading files under the course root (source with
  solutions, other submissions, gradebook);
- network (Landlock ABI >= 4): no outgoing TCP connections (so no reaching other kernels or
  the internet) and binding only the kernel's own ports;
- signals (Landlock ABI >= 6): cannot signal processes outside the sandbox (the grader);
- what the code tries anyway is reported to the grader by monitor.py, which runs first in
  the kernel (given a pipe's descriptor, `report_fd`).

`landlock_abi()` tells the grader what this machine enforces.
"""

import ctypes
import json
import os
import resource
import sys

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 24, 47, 4
WRITABLE = ("/dev", "/dev/shm")  # besides the working copy
MONITOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "monitor.py")

READ_FILE, READ_DIR = 1 << 2, 1 << 3
WRITES = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make_*
REFER, TRUNCATE = 1 << 13, 1 << 14
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]


class _NetPort(ctypes.Structure):
    _fields_ = [("allowed", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The Landlock ABI version of the running kernel; 0 if unavailable."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        abi = _libc().syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0
    return max(abi, 0)


def _readable_entries(hidden: str) -> list[str]:
    """Everything readable except `hidden`: the siblings of `hidden` and of each ancestor."""
    entries = []
    path = hidden_real = os.path.realpath(hidden)
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return entries
        try:
            names = os.listdir(parent)
        except OSError:
            names = []
        for name in names:
            full = os.path.join(parent, name)
            target = os.path.realpath(full)
            # a symbolic link to the hidden folder, into it or to one of its parents would open it
            if full != path and os.path.commonpath([target, hidden_real]) not in (target, hidden_real):
                entries.append(full)
        path = parent


def _apply_landlock(abi: int, workdir: str, hidden: str | None, ports: list[int]) -> None:
    libc = _libc()
    writes = WRITES | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    file_rights = READ_FILE | (1 << 1) | (TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(fs=READ_FILE | READ_DIR | writes)
    size = 8
    if abi >= 4:
        attr.net, size = BIND_TCP | CONNECT_TCP, 16
    if abi >= 6:
        attr.scoped, size = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL, 24
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")

    def allow(path: str, rights: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if not os.path.isdir(path):
                rights &= file_rights
            rule = _PathBeneath(allowed=rights, fd=fd)
            libc.syscall(SYS_ADD_RULE, ruleset, ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0))
        finally:
            os.close(fd)

    allow("/", READ_DIR)
    if hidden:
        for entry in _readable_entries(hidden):
            allow(entry, READ_FILE | READ_DIR)
    else:
        allow("/", READ_FILE | READ_DIR)
    for path in WRITABLE:
        allow(path, READ_FILE | READ_DIR | writes)
    allow(workdir, READ_FILE | READ_DIR | writes)
    if abi >= 4:
        for port in [0, *ports]:  # 0: ephemeral ports, for ipykernel's subprocess-output pipe
            rule = _NetPort(allowed=BIND_TCP, port=port)
            libc.syscall(SYS_ADD_RULE, ruleset, ctypes.c_int(2), ctypes.byref(rule), ctypes.c_uint32(0))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS)")
    if libc.syscall(SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    os.close(ruleset)


def _kernel_ports(cmd: list[str]) -> list[int]:
    if "-f" not in cmd:
        return []
    with open(cmd[cmd.index("-f") + 1]) as f:
        info = json.load(f)
    return [int(v) for k, v in info.items() if k.endswith("_port")]


def _join_cgroup(path: str) -> None:
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))


def _limit_user_processes(extra: int) -> None:
    """RLIMIT_NPROC counts all of the user's processes: allow `extra` more than there are now."""
    uid, count = os.getuid(), 0
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and os.stat(f"/proc/{name}").st_uid == uid:
                count += len(os.listdir(f"/proc/{name}/task"))
        except OSError:
            continue
    resource.setrlimit(resource.RLIMIT_NPROC, (count + extra, count + extra))


def _drop_capabilities() -> None:
    """Root keeps its uid but no capability, after the exec too (an empty bounding set)."""
    libc = _libc()
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def main(argv: list[str]) -> None:
    settings = json.loads(argv[1])
    cmd = argv[argv.index("--") + 1:]
    if settings.get("cgroup"):  # first, so that everything the kernel starts is counted
        _join_cgroup(settings["cgroup"])
    elif settings.get("processes") and os.getuid() != 0:
        _limit_user_processes(settings["processes"])
    memory = settings.get("memory_bytes")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    file_size = settings.get("file_size_bytes")
    if file_size:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    ports = _kernel_ports(cmd)  # read before reading outside the working copy may be denied
    if settings.get("report_fd") is not None and cmd[1:2] == ["-m"]:
        with open(MONITOR) as f:  # read now: the course root may hide this file afterwards
            watch = {"fd": settings["report_fd"], "workdir": settings["workdir"], "hidden": settings.get("hidden"),
                     "writable": WRITABLE, "watched": settings.get("watched", []), "ports": ports}
            cmd = [cmd[0], "-c", f.read(), json.dumps(watch), *cmd[1:]]
    if sys.platform.startswith("linux") and os.geteuid() == 0:
        _drop_capabilities()
    abi = landlock_abi() if settings.get("landlock", True) else 0
    if abi:
        _apply_landlock(abi, settings["workdir"], settings.get("hidden"), ports)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv)
