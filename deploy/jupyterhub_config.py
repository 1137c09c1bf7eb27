"""JupyterHub configuration of an igcb course on one machine.

`igcb hub` writes the course's settings to a JSON file (see course/hub.py, `hub_settings`)
and starts `jupyterhub -f deploy/jupyterhub_config.py` with IGCB_HUB_SETTINGS naming it.
To run the hub by hand, write that JSON yourself (the keys are listed in deploy/README.md)
and start JupyterHub the same way.

Secrets and the admin never live in a file here:
  IGCB_HUB_ADMIN            the coordinator's hub username (admin, and a tutor of the course)
  IGCB_HUB_ADMIN_PASSWORD   the admin's password, used once to create the account (native)
  IGCB_HUB_TEST_PASSWORD    the shared password of the test-only dummy authenticator
  IGCB_DB_URL               the cohort store's SQLAlchemy URL, passed on to the course room
  IGCB_SMTP_PASSWORD        the SMTP server's password (igcb hub --smtp-user), passed on to the room
"""

import json
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

settings = json.loads(Path(os.environ["IGCB_HUB_SETTINGS"]).read_text(encoding="utf-8"))
state = Path(settings["state"])
admin = os.environ.get("IGCB_HUB_ADMIN", "").strip()

# Where the hub listens; the proxy and the hub's own API stay on the loopback interface.
c.JupyterHub.ip = settings.get("ip", "127.0.0.1")
c.JupyterHub.port = int(settings.get("port", 8000))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(settings.get("hub_port", 8081))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{int(settings.get('proxy_api_port', 8001))}"
if settings.get("proxy_command"):
    c.ConfigurableHTTPProxy.command = settings["proxy_command"]

# SQLite and the cookie secret in the state folder's hub/ (readable by the hub only).
c.JupyterHub.db_url = f"sqlite:///{state / 'hub' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "hub" / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# People: roster participants and tutors; the admin comes from the environment only.
c.Authenticator.allowed_users = set(settings["allowed_users"])
groups = {name: {"users": list(group["users"])} for name, group in settings["groups"].items()}
if admin:
    c.Authenticator.admin_users = {admin}
    # The coordinator grades too.
    for name, group in groups.items():
        if name.startswith("formgrade-"):
            group["users"].append(admin)
c.JupyterHub.load_groups = groups
c.JupyterHub.load_roles = settings["roles"]
# Servers and services find this Python's tools (nbgrader calls `alembic`) first.
path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")])
for service in settings["services"]:
    service["environment"] = {**service.get("environment", {}), "PATH": path}
    if service["name"] == "room":
        # The cohort store's URL (it may hold a password) and the SMTP password reach the room
        # from our environment, never through the settings file.
        for name in ("IGCB_DB_URL", "IGCB_ROOT", "IGCB_SMTP_PASSWORD"):
            if os.environ.get(name):
                service["environment"][name] = os.environ[name]
c.JupyterHub.services = settings["services"]

if settings["authenticator"] == "native":
    c.JupyterHub.authenticator_class = "course.hub_classes.RosterNativeAuthenticator"
    c.NativeAuthenticator.minimum_password_length = 10
    c.NativeAuthenticator.check_common_password = True
    c.NativeAuthenticator.allowed_failed_logins = 5
    c.NativeAuthenticator.seconds_before_next_try = 600
else:
    # Tests only: any allowed user logs in with one shared password.
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = os.environ["IGCB_HUB_TEST_PASSWORD"]

# Users' servers: JupyterLab; the nbgrader settings (exchange, courses from hub groups) in
# a config folder of their own; their token may read their own groups (nbgrader asks the hub).
c.Spawner.cmd = [settings.get("singleuser") or str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {"JUPYTER_CONFIG_PATH": settings["participant_config"], "PATH": path}
c.Spawner.server_token_scopes = [
    "users:activity!user", "access:servers!server",
    "read:users:name!user", "read:users:groups!user",
]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

if settings["mode"] == "system-users":
    # One system user per hub user, created on first start.
    c.JupyterHub.spawner_class = "course.hub_classes.SystemUserSpawner"
else:
    # Everybody's server runs as the OS user running the hub: no isolation (deploy/README.md).
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(state / "home" / "{username}")
    if os.geteuid() == 0:
        c.Spawner.args = ["--allow-root"]
        for service in c.JupyterHub.services:
            if service["name"] != "room":  # Jupyter servers refuse root without it
                service["command"] = [*service["command"], "--allow-root"]
