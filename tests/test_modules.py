"""The module format: what module.yml must hold, and the errors a bad one gets."""

from pathlib import Path

import yaml

from course.modules import load_catalogue, load_module

from conftest import FIXTURES, run_igcb


def write_module(folder: Path, **changes) -> Path:
    data = yaml.safe_load((FIXTURES / "mini/modules/01-sample/module.yml").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "module.yml").write_text(yaml.safe_dump(data))
    return folder


def messages(folder: Path) -> str:
    entry, problems = load_module(folder)
    assert entry is None
    return "\n".join(str(p) for p in problems)


def test_the_fixture_module_loads():
    entry, problems = load_module(FIXTURES / "mini/modules/01-sample")
    assert problems == []
    assert entry.module.notebooks == ["reading.ipynb", "lab.ipynb"]
    assert entry.module.assessment is None


def test_missing_field_is_named(tmp_path):
    text = messages(write_module(tmp_path / "01-sample", title=None))
    assert "module.yml: title: missing required field" in text


def test_wrong_level_says_what_was_expected(tmp_path):
    text = messages(write_module(tmp_path / "01-sample", level="expert"))
    assert "level:" in text and "'awareness', 'foundation' or 'advanced'" in text
    assert "found 'expert'" in text


def test_uncheckable_objective_is_refused(tmp_path):
    text = messages(write_module(tmp_path / "01-sample", objectives=["Understand the DNS"]))
    assert "objectives: objective 'Understand the DNS' starts with 'understand'" in text


def test_unknown_field_is_refused(tmp_path):
    text = messages(write_module(tmp_path / "01-sample", authr="me"))
    assert "authr: unknown field" in text


def test_fewer_than_three_discussion_prompts_are_refused(tmp_path):
    prompts = [{"prompt": "Only one.", "facilitation": "Advice."}]
    text = messages(write_module(tmp_path / "01-sample", discussion_prompts=prompts))
    assert "discussion_prompts:" in text and "at least 3" in text


def test_id_must_match_folder(tmp_path):
    text = messages(write_module(tmp_path / "01-other"))
    assert "id: 'sample' does not match the folder name '01-other'" in text


def test_invalid_yaml_names_the_line(tmp_path):
    folder = tmp_path / "01-sample"
    folder.mkdir()
    (folder / "module.yml").write_text("id: sample\ntitle: [unclosed\n")
    assert "not valid YAML" in messages(folder)


def test_an_empty_module_yml_says_it_is_empty(tmp_path):
    folder = tmp_path / "01-sample"
    folder.mkdir()
    (folder / "module.yml").write_text("# nothing yet\n")
    assert "module.yml: the file is empty (expected a mapping of fields, key: value)" in messages(folder)


def test_catalogue_is_in_folder_order_and_refuses_duplicate_ids(tmp_path):
    write_module(tmp_path / "02-sample")
    write_module(tmp_path / "01-sample")
    (tmp_path / "03-sample").mkdir()
    catalogue, problems = load_catalogue(tmp_path)
    assert [e.folder.name for e in catalogue.values()] == ["01-sample"]
    assert any("id 'sample' is also used by" in str(p) for p in problems)
    assert any("03-sample/module.yml: file not found" in str(p) for p in problems)


def test_igcb_modules_lists_the_catalogue(mini_course):
    result = run_igcb("modules", root=mini_course)
    assert result.exit_code == 0
    header, _, row = result.output.splitlines()[:3]
    assert header.split() == ["id", "title", "level", "hours", "topics", "assessment"]
    assert row.split()[0] == "sample" and "awareness" in row and "none" in row
