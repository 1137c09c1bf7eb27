"""Classes the course's JupyterHub loads (named in deploy/jupyterhub_config.py).

- RosterNativeAuthenticator: accounts by sign-up, only for people on the roster, each
  approved by the coordinator (the admin) before it can log in.
- SystemUserSpawner: every hub user's server runs as a system user of the same name,
  created on the first start, so participants cannot read each other's files, the hub's
  database or the gradebook.
"""

import asyncio
import os

from jupyterhub.spawner import LocalProcessSpawner
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import LoginHandler

from course.hub_process import ensure_system_user


class RosterNativeAuthenticator(NativeAuthenticator):
    """NativeAuthenticator where only roster people may sign up and all need approval.

    Plain NativeAuthenticator pre-approves everyone in `allowed_users`, so whoever signs up
    first under a roster id would get in; here only the admin is pre-approved. The admin's
    account is made at start from IGCB_HUB_ADMIN_PASSWORD when it does not exist yet, so
    nobody can take the admin name by signing up first.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        password = os.environ.pop("IGCB_HUB_ADMIN_PASSWORD", "")
        for admin in self.admin_users:
            if password and not self.user_exists(admin):
                if self.create_user(admin, password) is None:
                    self.log.error("Could not create the admin account %s: password too weak "
                                   "(at least %d characters, not a common one)", admin,
                                   self.minimum_password_length)

    def get_handlers(self, app):
        handlers = super().get_handlers(app)
        return [(path, _LoginHandler if handler is LoginHandler else handler)
                for path, handler in handlers]

    def get_authed_users(self):
        return set(self.admin_users)

    def validate_username(self, username):
        if username not in self.allowed_users and username not in self.admin_users:
            return False
        return super().validate_username(username)


class _NoTimer:
    def timer(self, name):
        return self

    def start(self):
        return self

    def stop(self, send=True):
        pass


class _LoginHandler(LoginHandler):
    """nativeauthenticator 1.3.0's login form times itself with `self.statsd`, which
    JupyterHub 6 removed (every login was a 500 error)."""

    statsd = _NoTimer()


class SystemUserSpawner(LocalProcessSpawner):
    """LocalProcessSpawner that creates the user's system account on first start."""

    async def start(self):
        await asyncio.to_thread(ensure_system_user, self.user.name)
        return await super().start()
