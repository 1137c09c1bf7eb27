"""Labs with no server: a JupyterLite site of a plan's labs, beside the book.

The site runs Python in the participant's browser with Pyodide (CPython compiled to
WebAssembly) through the `jupyterlite-pyodide-kernel`. It is built from the registries this
project uses and nothing else:

- the JupyterLite app and the Pyodide kernel's extension come from PyPI (`jupyterlite-core`,
  `jupyterlite-pyodide-kernel`), the widgets' extension from PyPI (`jupyterlab_widgets`);
- Pyodide's core (pyodide.mjs, pyodide.asm.wasm, python_stdlib.zip, pyodide-lock.json) comes
  from the npm registry, pinned to the version the kernel expects (`scripts/setup-venv.sh`
  installs it into the venv's node_modules) and is served from the site itself;
- the pure-Python wheels the kernel and the labs need come from PyPI (`pip download`) and are
  served from the site too, in the versions of Pyodide's lock (or, for packages Pyodide does
  not ship, the versions of the book's own environment);
- compiled packages (numpy, pandas, matplotlib ...), which no registry ships for WebAssembly,
  stay in the site's lock as addresses on Pyodide's pinned CDN: the participant's browser
  fetches them there when a lab imports them.

Which lab can run in the browser is decided here, in one place (`decide`), from the lab's
imports and what the site offers; the others are "hub only". Pure functions first, the
build (downloads, `jupyter lite build`) at the end.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path
from urllib.parse import quote

import click
import nbformat

from course.errors import UserError

try:  # the kernel's own statement of the Pyodide it works with
    from jupyterlite_pyodide_kernel.constants import PYODIDE_VERSION
except ImportError:  # pragma: no cover - the lite packages are dependencies of igcb
    PYODIDE_VERSION = None

FOLDER = "lite"  # the site's folder in the book's HTML
APP = "notebooks"  # the JupyterLite app a lab opens in (the classic notebook page)
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
EXTENSIONS = ("@jupyterlite/pyodide-kernel-extension",  # the kernel
              "@jupyter-widgets/jupyterlab-manager")  # ipywidgets' views (jupyterlab_widgets)


def cdn_url(version: str | None = PYODIDE_VERSION) -> str:
    """Pyodide's pinned CDN, where the browser fetches compiled packages."""
    return f"https://cdn.jsdelivr.net/pyodide/v{version}/full/"


CDN_HOST = "cdn.jsdelivr.net"

# What the kernel installs when it starts (jupyterlite-pyodide-kernel's worker: micropip,
# then ipykernel, comm, pyodide-kernel, jedi, ipython): served from the site, so a kernel
# starts with no outside host.
KERNEL_PACKAGES = ("micropip", "comm", "jedi", "ipython")

# Pure-Python packages the labs use that Pyodide does not ship: their wheels come from PyPI in
# the version of the book's environment, with the names they are imported by.
EXTRA_PACKAGES: dict[str, tuple[str, ...]] = {
    "comm": ("comm",),
    "ipywidgets": ("ipywidgets",),
    "pycountry": ("pycountry",),
    "publicsuffixlist": ("publicsuffixlist",),
    "myst-nb": ("myst_nb",),
    "nbformat": ("nbformat",),
    "fastjsonschema": ("fastjsonschema",),
    "jupyter-core": ("jupyter_core",),
}

# Where a package's declared requirements are not what it needs in the browser: ipywidgets
# names its JupyterLab and classic-notebook front ends (the site has the first as an extension,
# the kernel a stand-in for the second); myst-nb names the whole book toolchain (Sphinx ...),
# while the only part a lab uses, `myst_nb.glue`, needs IPython, nbformat and docutils.
BROWSER_DEPENDS: dict[str, tuple[str, ...]] = {
    "ipywidgets": ("comm", "ipython", "traitlets"),
    "myst-nb": ("ipython", "nbformat", "docutils"),
}

# Standard modules a lab may import that do nothing useful in a browser tab: no processes,
# no sockets, no terminal. A lab that imports one runs in the hub only.
NOT_IN_BROWSER = frozenset({
    "subprocess", "multiprocessing", "socket", "socketserver", "ssl", "select", "selectors",
    "signal", "pty", "tty", "termios", "curses", "readline", "tkinter", "turtle", "turtledemo",
    "idlelib", "venv", "ensurepip", "dbm", "resource", "fcntl", "grp", "pwd", "mmap",
    "ftplib", "smtplib", "poplib", "imaplib", "telnetlib", "urllib3", "requests",
})


def normalize(name: str) -> str:
    """A distribution's canonical name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --- what a lab needs, and whether the site has it ------------------------------------------

def notebook_imports(notebook: bytes | str) -> list[str]:
    """The top-level modules a notebook's code cells import (sorted, relative imports left
    out). Lines of IPython magics and shell escapes are ignored."""
    text = notebook.decode("utf-8") if isinstance(notebook, bytes) else notebook
    parsed = nbformat.reads(text, as_version=4)
    names: set[str] = set()
    for cell in parsed.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines()
                           if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return sorted(names)


@dataclass(frozen=True)
class Offer:
    """What the lite site offers a lab: modules it can import, and which of them the browser
    fetches from Pyodide's CDN (compiled packages), by import name -> package name."""

    local: frozenset[str]
    cdn: dict[str, str] = field(default_factory=dict)

    def __contains__(self, module: str) -> bool:
        return module in self.local or module in self.cdn


@dataclass(frozen=True)
class Decision:
    """Whether a lab runs in the browser; if not, the imports the site lacks; if so, the
    compiled packages the browser fetches from the CDN for it."""

    runs: bool
    missing: tuple[str, ...] = ()
    from_cdn: tuple[str, ...] = ()


def decide(imports: list[str], offer: Offer) -> Decision:
    """Runs in the browser when the site offers every module the lab imports."""
    missing = tuple(sorted(m for m in set(imports) if m not in offer))
    if missing:
        return Decision(False, missing=missing)
    return Decision(True, from_cdn=tuple(sorted({offer.cdn[m] for m in imports
                                                 if m in offer.cdn and m not in offer.local})))


def is_pure(file_name: str) -> bool:
    return file_name.endswith("-none-any.whl")


def lock_closure(packages: dict, roots) -> list[str]:
    """The lock's packages `roots` need, by canonical name (dependencies first seen last)."""
    by_name = {normalize(name): spec for name, spec in packages.items()}
    seen: list[str] = []
    stack = [normalize(r) for r in roots]
    while stack:
        name = stack.pop()
        if name in seen or name not in by_name:
            continue
        seen.append(name)
        stack += [normalize(d) for d in by_name[name].get("depends", [])]
    return seen


def offer_from_lock(lock: dict, extras=EXTRA_PACKAGES,
                    stdlib=frozenset(sys.stdlib_module_names)) -> Offer:
    """What a site built on Pyodide's `lock` (its pyodide-lock.json) and the extra wheels
    offers. Pure-Python packages are served by the site; compiled ones come from the CDN."""
    local = {m for m in stdlib if not m.startswith("_")} - NOT_IN_BROWSER
    cdn = {}
    for name, spec in lock["packages"].items():
        for module in spec.get("imports", []):
            if spec.get("package_type", "package") != "package":
                local.add(module)  # shared libraries and the unvendored standard library
            elif is_pure(spec["file_name"]):
                local.add(module)
            else:
                cdn[module] = name
    for modules in extras.values():
        local.update(modules)
    local -= NOT_IN_BROWSER
    return Offer(frozenset(local), {m: p for m, p in cdn.items() if m not in NOT_IN_BROWSER})


def load_lock(pyodide_dir: Path) -> dict:
    return json.loads((pyodide_dir / "pyodide-lock.json").read_text(encoding="utf-8"))


def lab_path(module_id: str, lab: str) -> str:
    """Where a lab sits in the lite site's files (beside its module's data/)."""
    return f"modules/{module_id}/{lab}"


def lite_link(module_id: str, lab: str, prefix: str = "../../") -> str:
    """The link that opens a lab in the lite site, relative to a page of the module's folder
    of the book (`modules/<id>/...`)."""
    return f"{prefix}{FOLDER}/{APP}/index.html?path={quote(lab_path(module_id, lab))}"


# --- the site's lock: local wheels and CDN addresses ----------------------------------------

@dataclass(frozen=True)
class Wheel:
    """A wheel the site serves: its file, the names it is imported by, what it needs."""

    name: str  # canonical
    version: str
    path: Path
    imports: tuple[str, ...]
    depends: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def site_lock(lock: dict, wheels: dict[str, Wheel], cdn: str, wheel_folder: str) -> dict:
    """The site's pyodide-lock.json: Pyodide's, with every package the site serves pointing at
    its wheel in `wheel_folder` (relative to the lock) and every other one at the pinned CDN.

    Raises ValueError naming any dependency that the lock does not have."""
    out = json.loads(json.dumps(lock))  # a deep copy
    packages = out["packages"]
    key_of = {normalize(name): name for name in packages}
    for name, wheel in wheels.items():
        key = key_of.get(name, name)
        spec = packages.get(key) or {"name": name, "install_dir": "site",
                                     "package_type": "package", "unvendored_tests": False,
                                     "shared_library": False}
        spec.update(name=spec.get("name", name), version=wheel.version,
                    file_name=f"{wheel_folder}/{wheel.path.name}", sha256=wheel.sha256,
                    imports=list(wheel.imports) or spec.get("imports", []),
                    depends=list(wheel.depends) if name not in key_of else spec.get("depends", []))
        packages[key] = spec
        key_of[name] = key
    served = {normalize(n) for n in wheels}
    for name, spec in packages.items():
        if normalize(name) not in served and "://" not in spec["file_name"]:
            spec["file_name"] = cdn + spec["file_name"]
    missing = sorted({f"{name} needs {dep}" for name, spec in packages.items()
                      for dep in spec.get("depends", []) if normalize(dep) not in key_of})
    if missing:
        raise ValueError("the site's Pyodide lock lacks: " + "; ".join(missing))
    return out


def wheel_info(path: Path, name: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(version, top-level import names, requirement names) read from a wheel's metadata;
    requirements as they apply in Pyodide (no extras; markers for Emscripten)."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(metadata_name).decode("utf-8"))
    tops = set()
    for member in names:
        top = member.split("/")[0]
        if top.endswith((".dist-info", ".data")):
            continue
        if "/" in member:
            tops.add(top)
        elif member.endswith(".py"):
            tops.add(top[:-3])
    environment = {**default_environment(), "sys_platform": "emscripten",
                   "platform_system": "Emscripten", "platform_machine": "wasm32",
                   "os_name": "posix", "python_version": "3.14", "extra": ""}
    requires = []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            requires.append(normalize(requirement.name))
    if name in BROWSER_DEPENDS:
        requires = list(BROWSER_DEPENDS[name])
    return metadata["Version"], tuple(sorted(tops)), tuple(sorted(set(requires)))


# --- the build --------------------------------------------------------------------------------

def pyodide_dir() -> Path:
    """Pyodide's npm package in the venv (scripts/setup-venv.sh), checked against the version
    the installed kernel expects."""
    folder = Path(sys.prefix) / "node_modules" / "pyodide"
    package = folder / "package.json"
    found = json.loads(package.read_text())["version"] if package.is_file() else None
    if found != PYODIDE_VERSION:
        raise UserError(f"the browser labs need Pyodide {PYODIDE_VERSION} from the npm registry in "
                        f"{folder} (found {found or 'none'}): run scripts/setup-venv.sh")
    return folder


def download_wheels(specs: list[str], folder: Path) -> dict[str, Path]:
    """Pure-Python wheels for `specs` (name==version) from PyPI into `folder` (kept between
    builds), by canonical name."""
    folder.mkdir(parents=True, exist_ok=True)

    def present() -> dict[str, Path]:
        found = {}
        for path in folder.glob("*.whl"):
            name, version = path.name.split("-")[:2]
            found[f"{normalize(name)}=={version}"] = path
        return found

    wanted = [s for s in specs if s not in present()]
    if wanted:
        click.echo(f"      downloading {len(wanted)} pure-Python wheel(s) from PyPI")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--python-version", "3.14", "--implementation", "py",
             "--abi", "none", "--platform", "any", "--dest", str(folder), *wanted],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise UserError("could not download the browser labs' wheels from PyPI: "
                            + (result.stderr.strip().splitlines() or ["pip failed"])[-1])
    found = present()
    missing = [s for s in specs if s not in found]
    if missing:
        raise UserError("PyPI has no pure-Python wheel for: " + ", ".join(missing))
    return {s.split("==")[0]: found[s] for s in specs}


KERNELSPEC = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}


def for_pyodide(notebook: bytes) -> bytes:
    """The notebook set to open with the Pyodide kernel (the site's only one)."""
    parsed = nbformat.reads(notebook.decode("utf-8"), as_version=4)
    parsed.metadata["kernelspec"] = dict(KERNELSPEC)
    return nbformat.writes(parsed).encode("utf-8")


@dataclass
class Lab:
    module_id: str
    name: str
    notebook: Path
    imports: list[str]
    decision: Decision


def plan_labs(plan, catalogue, offer: Offer) -> list[Lab]:
    labs = []
    for module_id in plan.module_ids:
        entry = catalogue[module_id]
        for name in entry.module.labs:
            path = entry.folder / name
            imports = notebook_imports(path.read_bytes())
            labs.append(Lab(module_id, name, path, imports, decide(imports, offer)))
    return labs


def site_offer() -> Offer:
    return offer_from_lock(load_lock(pyodide_dir()))


def build_lite(labs: list[Lab], catalogue, work: Path, target: Path) -> Path:
    """Build the lite site of the labs that run in the browser into `target` (replaced);
    `work` keeps the staged sources, the downloaded wheels and JupyterLite's cache."""
    pyodide = pyodide_dir()
    lock = load_lock(pyodide)
    runnable = [lab for lab in labs if lab.decision.runs]
    click.echo(f"      {len(runnable)} of {len(labs)} lab(s) run in the browser; "
               f"Pyodide {PYODIDE_VERSION} from the npm registry")

    # The wheels the site serves: the kernel's packages, the extras, the pure-Python packages
    # the labs import, and every pure-Python package those need.
    by_import = {m: normalize(name) for name, spec in lock["packages"].items()
                 for m in spec.get("imports", [])}
    lab_packages = {by_import[m] for lab in runnable for m in lab.imports if m in by_import}
    wheels_dir = work / "wheels"
    extra_specs = [f"{name}=={importlib.metadata.version(name)}" for name in EXTRA_PACKAGES]
    extra_files = download_wheels(extra_specs, wheels_dir)
    wheels: dict[str, Wheel] = {}
    for name, path in extra_files.items():
        version, tops, depends = wheel_info(path, name)
        lacking = set(EXTRA_PACKAGES[name]) - set(tops)
        if lacking:
            raise UserError(f"the wheel {path.name} does not provide {', '.join(sorted(lacking))}")
        wheels[name] = Wheel(name, version, path, EXTRA_PACKAGES[name], depends)
    roots = {*KERNEL_PACKAGES, *lab_packages, *(d for w in wheels.values() for d in w.depends)}
    closure = lock_closure(lock["packages"], roots)
    specs = {normalize(n): s for n, s in lock["packages"].items()}
    pure = [n for n in closure if n in specs and n not in wheels
            and specs[n].get("package_type", "package") == "package"
            and is_pure(specs[n]["file_name"])]
    pure_files = download_wheels([f"{n}=={specs[n]['version']}" for n in pure], wheels_dir)
    for name, path in pure_files.items():
        wheels[name] = Wheel(name, specs[name]["version"], path, (), ())
    try:
        new_lock = site_lock(lock, wheels, cdn_url(), "wheels")
    except ValueError as err:
        raise UserError(str(err)) from None

    # The JupyterLite sources: Pyodide in static/pyodide (the kernel's well-known place),
    # with the site's lock and wheels, the kernel's settings, and the labs with their data.
    lite_dir = work / "source"
    files: dict[str, bytes] = {}
    for path in pyodide.iterdir():
        if path.is_file() and path.name not in ("pyodide-lock.json", "package.json") \
                and not path.name.endswith((".map", ".d.ts", ".html", ".md")):
            files[f"static/pyodide/{path.name}"] = path.read_bytes()
    files["static/pyodide/pyodide-lock.json"] = json.dumps(new_lock, indent=1).encode()
    for wheel in wheels.values():
        files[f"static/pyodide/wheels/{wheel.path.name}"] = wheel.path.read_bytes()
    files["jupyter-lite.json"] = json.dumps({
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "igcb labs",
            "litePluginSettings": {KERNEL_PLUGIN: {"disablePyPIFallback": True}},
        },
    }, indent=1).encode()
    for lab in runnable:
        folder = catalogue[lab.module_id].folder
        files[f"contents/{lab_path(lab.module_id, lab.name)}"] = for_pyodide(
            lab.notebook.read_bytes())
        data = folder / "data"
        for path in sorted(data.rglob("*")) if data.is_dir() else []:
            if path.is_file() and not any(p.startswith(".") for p in path.relative_to(folder).parts):
                files[f"contents/modules/{lab.module_id}/{path.relative_to(folder).as_posix()}"] = \
                    path.read_bytes()
    from course.book import sync_tree, venv_command  # the book's staging: only changed files

    sync_tree(lite_dir, files)
    (lite_dir / "contents").mkdir(exist_ok=True)

    output = work / "output"
    extensions = Path(sys.prefix) / "share" / "jupyter" / "labextensions"
    jupyter_lite = venv_command("jupyter-lite", "jupyterlite-core")
    federated = json.dumps([str(extensions / name) for name in EXTENSIONS])
    command = [jupyter_lite, "build", "--lite-dir", str(lite_dir),
               "--contents", str(lite_dir / "contents"), "--output-dir", str(output),
               "--ignore-sys-prefix", "--no-sourcemaps", "--apps", APP, "--apps", "tree",
               f"--LiteBuildConfig.federated_extensions={federated}"]
    click.echo("      running jupyter lite build")
    result = subprocess.run(command, capture_output=True, text=True, cwd=work)
    if result.returncode != 0:
        raise UserError("the browser labs did not build (jupyter lite build exit status "
                        f"{result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(output, target)
    return target
