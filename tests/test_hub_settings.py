"""The hub's settings from a course and its people (course/hub.py), the config JupyterHub
loads (deploy/jupyterhub_config.py), and the Zero to JupyterHub values naming the same things."""

import json
from pathlib import Path

import yaml
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from course.hub import (ROOM_SERVICE, course_settings, grader_nbgrader_config, hub_settings,
                        room_path, room_role, room_service,
                        participant_nbgrader_config, username_problems)
from course.hub_process import prepare_state
from course.layout import REPO_ROOT

VALUES = REPO_ROOT / "deploy" / "z2jh" / "values.yaml"


def settings(tmp_path, **options):
    return hub_settings(
        "online-course", ["p02", "p01"], ["t01"], state=str(tmp_path / "state"),
        ip="127.0.0.1", port=8000, hub_port=8081, proxy_api_port=8001, service_port=10101,
        proxy_command=["configurable-http-proxy"], singleuser="jupyterhub-singleuser",
        **options)


def test_groups_roles_and_service(tmp_path):
    hub = settings(tmp_path)
    assert hub["groups"] == {"nbgrader-online-course": {"users": ["p01", "p02"]},
                             "formgrade-online-course": {"users": ["t01"]}}
    assert hub["allowed_users"] == ["p01", "p02", "t01"]
    [role] = hub["roles"]
    assert role["scopes"] == ["access:services!service=online-course"]
    assert role["groups"] == ["formgrade-online-course"]
    [service] = hub["services"]
    assert service["name"] == "online-course" and service["oauth_no_confirm"]
    assert service["user"] == "grader-online-course"  # system-users mode
    assert "user" not in settings(tmp_path, mode="shared")["services"][0]
    json.dumps(hub)  # all of it goes into a JSON file


def test_usernames_are_checked():
    assert username_problems(["p01", "t-02", "a_b"]) == []
    assert username_problems(["P01", "", "root user", "x" * 33, "1abc"]) == [
        (0, "P01"), (1, ""), (2, "root user"), (3, "x" * 33), (4, "1abc")]


def load_config(folder: Path) -> Config:
    return PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()


def test_nbgrader_configs_run(tmp_path):
    """The generated nbgrader configs execute and set what the servers and the grader need."""
    base = tmp_path / "course_nbgrader_config.py"
    base.write_text("c = get_config()\nc.CourseDirectory.course_id = 'other'\nc.Execute.timeout = 7\n")
    (tmp_path / "nbgrader_config.py").write_text(
        grader_nbgrader_config("online-course", str(tmp_path), "/x/exchange", base.name))
    config = load_config(tmp_path)
    assert config.CourseDirectory.course_id == "online-course"
    assert config.Execute.timeout == 7
    assert config.Exchange.root == "/x/exchange"

    student = tmp_path / "student"
    student.mkdir()
    (student / "nbgrader_config.py").write_text(participant_nbgrader_config("/x/exchange", True))
    config = load_config(student)
    assert config.Exchange.path_includes_course is True
    assert "student_id" in config.CourseDirectory


def test_jupyterhub_config_reads_the_settings(tmp_path, monkeypatch):
    path = prepare_state(settings(tmp_path, mode="shared", authenticator="native"), None)
    monkeypatch.setenv("IGCB_HUB_SETTINGS", str(path))
    monkeypatch.setenv("IGCB_HUB_ADMIN", "coord")
    c = Config()
    source = (REPO_ROOT / "deploy" / "jupyterhub_config.py").read_text()
    exec(compile(source, "jupyterhub_config.py", "exec"), {"get_config": lambda: c})
    assert c.Authenticator.admin_users == {"coord"}
    assert c.JupyterHub.load_groups["formgrade-online-course"]["users"] == ["t01", "coord"]
    assert c.JupyterHub.authenticator_class == "course.hub_classes.RosterNativeAuthenticator"
    assert c.JupyterHub.spawner_class == "simple"
    assert "coord" not in path.read_text()  # the admin is never written to a file
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"


def test_z2jh_values_name_the_same_groups_roles_and_service():
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    local = course_settings("online-course", [], [], service_port=1, course_root="/c",
                            singleuser="x", run_as_grader=False)
    [role] = local["roles"]
    loaded = values["hub"]["loadRoles"][role["name"]]
    assert loaded["scopes"] == role["scopes"] and loaded["groups"] == role["groups"]
    [service] = local["services"]
    hub_service = values["hub"]["services"][service["name"]]
    assert hub_service["oauth_no_confirm"] is True
    groups = values["hub"]["extraConfig"]["igcb-groups"]
    for name in local["groups"]:
        assert f'"{name}"' in groups
    # The exchange volume is mounted where the servers' nbgrader config looks for it.
    mounts = {m["name"]: m["mountPath"] for m in values["singleuser"]["storage"]["extraVolumeMounts"]}
    config = values["singleuser"]["extraFiles"]["nbgrader-config"]["stringData"]
    assert f'c.Exchange.root = "{mounts["exchange"]}"' in config
    grader, room = values["hub"]["extraContainers"]
    assert {"name": "exchange", "mountPath": mounts["exchange"]} in grader["volumeMounts"]


def test_z2jh_values_run_the_course_room_on_postgresql():
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    local = room_role("online-course")
    loaded = values["hub"]["loadRoles"][local["name"]]
    assert loaded["scopes"] == local["scopes"] and loaded["groups"] == local["groups"]
    service = values["hub"]["services"][ROOM_SERVICE]
    assert service["oauth_no_confirm"] is True
    room = next(c for c in values["hub"]["extraContainers"] if c["name"] == "room")
    assert room["command"][:3] == ["python", "-m", "course.room"]
    env = {e["name"]: e for e in room["env"]}
    assert env["IGCB_DB_URL"]["valueFrom"]["secretKeyRef"]["name"] == "igcb-room"
    assert env["JUPYTERHUB_SERVICE_PREFIX"]["value"] == room_path()
    assert service["url"] == env["JUPYTERHUB_SERVICE_URL"]["value"]


def test_room_service_keeps_the_store_url_off_the_command_line():
    service = room_service(1234, "/venv/bin/python", "/s/course", "/s/hub/secret", {})
    assert "IGCB_DB_URL" not in " ".join(service["command"])
    settings = hub_settings("c", ["p1"], ["t1"], state="/s", ip="127.0.0.1", port=1, hub_port=2,
                            proxy_api_port=3, service_port=4, proxy_command=["x"], singleuser="y",
                            mode="shared", authenticator="dummy", room=service)
    assert room_role("c") in settings["roles"] and service in settings["services"]
