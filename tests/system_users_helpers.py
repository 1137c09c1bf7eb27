"""What the system-users hub tests need (tests/test_hub_system_users.py): a copy of the project's
venv that system users can run, system users the hub made, and code run in a user's real kernel.

The project's venv may sit where system users cannot go (a Python under /root, a clone in a
private folder), so `reachable_venv` makes a venv under /var/cache/igcb-test with the same
packages: the venv's files hard-linked (copied where linking fails), its Python replaced by a
system-wide interpreter of the same version, console scripts pointed at it. It is kept until the
venv changes (`venv_key`), so only the first run pays for it.
"""

import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

CACHE = Path("/var/cache/igcb-test")


def open_to_others(path: Path) -> bool:
    """Whether a user who is neither owner nor in the group can reach (and read) `path`."""
    try:
        for candidate in {path, path.resolve()}:
            for folder in candidate.parents:
                if not folder.stat().st_mode & stat.S_IXOTH:
                    return False
            mode = candidate.stat().st_mode
            if not mode & stat.S_IROTH or (stat.S_ISDIR(mode) and not mode & stat.S_IXOTH):
                return False
    except OSError:
        return False
    return True


def system_python() -> Path:
    """An interpreter of the venv's Python version that system users can run."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [Path(sys.base_prefix) / "bin" / f"python{version}",
                  Path(f"/usr/bin/python{version}"), Path(f"/usr/local/bin/python{version}")]
    for python in candidates:
        if python.is_file() and open_to_others(python) \
                and python.resolve().stat().st_mode & stat.S_IXOTH:
            return python
    raise RuntimeError(f"no Python {version} that other users may run (tried "
                       f"{', '.join(map(str, candidates))}): install Debian's python{version}")


def _python_version(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def venv_key(venv: Path, python: Path) -> str:
    """Changes when the venv's packages, scripts or set-up stamp change (a few stat calls)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    site = venv / "lib" / f"python{version}" / "site-packages"
    parts = [str(venv.resolve()), str(python), _python_version(python)]
    for path in (venv / ".installed", venv / "pyvenv.cfg", site, venv / "bin",
                 venv / "node_modules", venv / "share" / "jupyter", venv / "etc" / "jupyter"):
        parts.append(f"{path.name}:{path.stat().st_mtime_ns if path.exists() else '-'}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _link_tree(source: Path, target: Path, final: Path) -> None:
    """Rebuild `source` in `target`: folders 0755, files hard-linked when others may read them
    (else copied and opened to others), symlinks into `source` pointed at `final`, where
    `target` will be renamed to."""
    old = str(source)
    for folder, dirs, files in os.walk(source):
        here = Path(folder)
        there = target / here.relative_to(source)
        for name in [*dirs, *files]:
            src, dst = here / name, there / name
            if src.is_symlink():
                link = os.readlink(src)
                os.symlink(final.as_posix() + link[len(old):] if link.startswith(old + "/")
                           else link, dst)
            elif src.is_dir():
                dst.mkdir()
                dst.chmod(0o755)
            else:
                mode = src.stat().st_mode
                if mode & stat.S_IROTH:
                    try:
                        os.link(src, dst)
                        continue
                    except OSError:  # another file system, or linking refused
                        pass
                shutil.copy2(src, dst)
                dst.chmod((mode | 0o444 | (0o111 if mode & stat.S_IXUSR else 0)) & 0o755)


def _retarget(venv: Path, old: Path, final: Path, python: Path) -> None:
    """Make the linked copy `venv` (to be renamed `final`) a venv of `python`: interpreter
    links, pyvenv.cfg, script shebangs."""
    bin_ = venv / "bin"
    version = _python_version(python)
    for name in ("python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}"):
        (bin_ / name).unlink(missing_ok=True)
        (bin_ / name).symlink_to(python)
    config = venv / "pyvenv.cfg"
    config.unlink()  # a hard link: never write through it into the project's venv
    config.write_text(f"home = {python.parent}\ninclude-system-site-packages = false\n"
                      f"version = {version}\nexecutable = {python.resolve()}\n", encoding="utf-8")
    config.chmod(0o644)
    for script in bin_.iterdir():
        if script.is_symlink() or not script.is_file() or script.stat().st_size > 65536:
            continue
        text = script.read_bytes()
        if not text.startswith(b"#!"):
            continue
        fixed = text
        for path in {str(old), str(old.resolve())}:  # the venv as it was made, either way
            fixed = fixed.replace(f"{path}/bin/".encode(), f"{final}/bin/".encode())
        if fixed != text:
            fresh = script.with_name(f".{script.name}.new")
            fresh.write_bytes(fixed)
            fresh.chmod(0o755)
            fresh.replace(script)  # replaces the link, leaving the project's file as it was


def reachable_venv(venv: Path = Path(sys.prefix)) -> Path:
    """A venv outside private folders with the packages of `venv` (built on first use)."""
    python = system_python()
    target = CACHE / f"venv-{venv_key(venv, python)}"
    if (target / ".complete").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    CACHE.chmod(0o755)
    if not open_to_others(CACHE):
        raise RuntimeError(f"{CACHE} is not reachable by other users")
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=CACHE))
    try:
        _link_tree(venv, building, target)
        _retarget(building, venv, target, python)
        (building / ".complete").write_text(f"{venv}\n", encoding="utf-8")
        building.chmod(0o755)
        try:
            building.rename(target)
        except OSError:  # another session built it meanwhile
            shutil.rmtree(building)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    for stale in CACHE.glob("venv-*"):  # earlier states of the venv
        if stale != target:
            shutil.rmtree(stale, ignore_errors=True)
    return target


# --- system users -------------------------------------------------------------------------

def made_by_hub(name: str, marker: str) -> bool:
    try:
        return pwd.getpwnam(name).pw_gecos == marker
    except KeyError:
        return False


def remove_system_user(name: str) -> None:
    """End the user's remaining processes (started by the test's hub), then remove the user
    with its home and group."""
    uid = pwd.getpwnam(name).pw_uid
    left = [p for p in psutil.process_iter(["uids"])
            if p.info["uids"] and p.info["uids"].real == uid]
    for process in left:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(left, timeout=10)
    subprocess.run(["userdel", "--remove", name], check=True, capture_output=True)


# --- code in a user's real kernel -----------------------------------------------------------

class Kernel:
    """A kernel of a user's Jupyter server, started and driven through the hub's proxy with the
    user's login cookies: the REST API starts it, the websocket channel runs code in it."""

    def __init__(self, url: str, session, user: str, xsrf: dict):
        import websocket

        self.server = f"{url}/user/{user}"
        self.session, self.xsrf = session, xsrf
        reply = session.post(f"{self.server}/api/kernels", json={"name": "python3"},
                             headers=xsrf, timeout=60)
        reply.raise_for_status()
        self.id = reply.json()["id"]
        self.client_session = uuid.uuid4().hex
        cookies = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        ws_url = (f"{self.server.replace('http://', 'ws://', 1)}/api/kernels/{self.id}/channels"
                  f"?session_id={self.client_session}&_xsrf={xsrf['X-XSRFToken']}")
        self.socket = websocket.create_connection(ws_url, timeout=60,
                                                  header=[f"Cookie: {cookies}",
                                                          f"X-XSRFToken: {xsrf['X-XSRFToken']}"])

    def run(self, code: str, timeout: float = 60) -> str:
        """Run `code`; its standard output (an AssertionError with the traceback if it raised)."""
        msg_id = uuid.uuid4().hex
        self.socket.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": self.client_session,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        output, error = [], None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                output.append(content["text"])
            elif kind == "error":
                error = "\n".join(content["traceback"])
            elif kind == "status" and content["execution_state"] == "idle":
                if error:
                    raise AssertionError(f"the kernel's code raised:\n{error}")
                return "".join(output)
        raise AssertionError(f"no answer from the kernel in {timeout} s")

    def close(self) -> None:
        self.socket.close()
        self.session.delete(f"{self.server}/api/kernels/{self.id}", headers=self.xsrf, timeout=60)
