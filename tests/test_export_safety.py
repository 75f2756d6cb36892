"""What an export promises about the file it replaces: line endings, owner, lock, backups, odd paths."""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit import filelock, jsonc
from toolkit.atomic import NotKept, write_atomic
from toolkit.choice import Choice
from toolkit.config_edit import read_existing
from toolkit.errors import UserError
from toolkit.export import check_plugin_spec, export_opencode_config, plan_export

pytestmark = pytest.mark.filterwarnings("ignore::toolkit.export.ExportWarning")

CHOICE = Choice(["anthropic", "openrouter"])
SEED = json.dumps(CHOICE.options())
API = {
    provider: {"id": provider, "name": provider, "env": [], "models": {model: {"id": model, "name": "Claude Sonnet 4"}}}
    for provider, model in [("anthropic", "claude-sonnet-4-20250514"), ("openrouter", "anthropic/claude-sonnet-4")]
}
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file to another user")


@pytest.fixture
def catalog_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("catalog") / "api.json"
    path.write_text(json.dumps(API))
    return path


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def backups(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.bak"))


# --- line endings -----------------------------------------------------------------------------

CRLF_FILE = b'{\r\n  // my settings\r\n  "theme": "dark",\r\n  "plugin": ["other"]\r\n}\r\n'


def test_a_crlf_file_stays_crlf_in_the_lines_an_export_adds():
    new = plan_export_text(CRLF_FILE.decode(), set_model="combined/x")
    assert new == (
        '{\r\n  // my settings\r\n  "theme": "dark",\r\n  "plugin": ["other", "opencode-combined-models"],\r\n'
        '  "combined_models": {\r\n    "provider_priority": ["anthropic", "openrouter"],\r\n'
        '    "min_providers": 2,\r\n    "strategy": "on_error",\r\n    "max_attempts": 3\r\n  },\r\n'
        '  "model": "combined/x"\r\n}\r\n'
    )


def test_removing_a_section_from_a_crlf_file_keeps_crlf():
    text = '{\r\n  "combined_models": {"strategy": "on_error"},\r\n  "plugin": []\r\n}\r\n'
    new = plan_export_text(text, layout="plugin")
    assert new == (
        '{\r\n  "plugin": [\r\n    [\r\n      "opencode-combined-models",\r\n      {\r\n'
        '        "provider_priority": ["anthropic", "openrouter"],\r\n        "min_providers": 2,\r\n'
        '        "strategy": "on_error",\r\n        "max_attempts": 3\r\n      }\r\n    ]\r\n  ]\r\n}\r\n'
    )


def test_a_mostly_lf_file_gets_lf():
    assert jsonc.newline_of("{\n\n\r\n}") == "\n" and jsonc.newline_of('{"a": 1}') == "\n"
    assert jsonc.newline_of("{\r\n\r\n\n}") == "\r\n"


def plan_export_text(text: str, **options) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "opencode.jsonc"
        path.write_bytes(text.encode())
        return plan_export(path, CHOICE, **options).new_text


def test_the_diff_of_a_crlf_file_shows_only_the_changed_lines_with_their_endings(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_bytes(CRLF_FILE)
    diff = plan_export(path, CHOICE, layout="plugin").diff()
    body = diff.split("\n", 2)[2]  # after the --- and +++ lines
    assert body == (
        "@@ -1,5 +1,16 @@\n"
        " {\r\n"
        "   // my settings\r\n"
        '   "theme": "dark",\r\n'
        '-  "plugin": ["other"]\r\n'
        '+  "plugin": [\r\n'
        '+    "other",\r\n'
        "+    [\r\n"
        '+      "opencode-combined-models",\r\n'
        "+      {\r\n"
        '+        "provider_priority": ["anthropic", "openrouter"],\r\n'
        '+        "min_providers": 2,\r\n'
        '+        "strategy": "on_error",\r\n'
        '+        "max_attempts": 3\r\n'
        "+      }\r\n"
        "+    ]\r\n"
        "+  ]\r\n"
        " }\r\n"
    )


def test_the_diff_marks_a_last_line_without_newline_and_splits_at_newlines_only(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text('{"theme": "a\u2028b"}')  # U+2028 inside a string is not a line break of the file
    assert plan_export(path, CHOICE).diff().split("\n", 2)[2] == (
        "@@ -1 +1,9 @@\n"
        '-{"theme": "a\u2028b"}\n'
        "\\ No newline at end of file\n"
        '+{"theme": "a\u2028b",\n'
        '+  "plugin": ["opencode-combined-models"],\n'
        '+  "combined_models": {\n'
        '+    "provider_priority": ["anthropic", "openrouter"],\n'
        '+    "min_providers": 2,\n'
        '+    "strategy": "on_error",\n'
        '+    "max_attempts": 3\n'
        "+  }\n"
        "+}\n"
        "\\ No newline at end of file\n"
    )


# --- property: every byte outside the changed value is kept ------------------------------------

SET_MODEL = "combined/claude-sonnet-4"
comment_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n*/")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
other_keys = st.text(max_size=6).filter(lambda k: k not in {"plugin", "combined_models", "model"})


@st.composite
def jsonc_documents(draw):
    """A JSONC object text holding the seed export already, plus the offsets the property needs."""
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    indent = draw(st.sampled_from(["  ", "    ", "\t"]))
    members = [(k, draw(json_values)) for k in draw(st.lists(other_keys, unique=True, max_size=5))]
    members.insert(draw(st.integers(0, len(members))), ("plugin", ["opencode-combined-models"]))
    members.insert(draw(st.integers(0, len(members))), ("combined_models", CHOICE.options()))
    has_model = draw(st.booleans())
    if has_model:
        members.insert(draw(st.integers(0, len(members))), ("model", draw(st.text(max_size=8))))
    trailing = draw(st.booleans())
    text, model_span, last_end = "{" + newline, None, 0
    for i, (key, value) in enumerate(members):
        if draw(st.booleans()):
            text += f"{indent}// {draw(st.text(comment_chars, max_size=10))}{newline}"
        ascii_only = draw(st.booleans())
        shown = json.dumps(value, ensure_ascii=ascii_only, indent=draw(st.sampled_from([None, 2])))
        text += f"{indent}{json.dumps(key, ensure_ascii=ascii_only)}:{draw(st.sampled_from([' ', '', '  ']))}"
        start = len(text)
        text += shown.replace("\n", newline + indent)
        last_end = len(text)
        if key == "model":
            model_span = (start, last_end)
        if draw(st.booleans()):
            text += f" /* {draw(st.text(comment_chars, max_size=10))} */"
        text += ("," if i < len(members) - 1 or trailing else "") + newline
    text += "}" + newline
    return text, newline, indent, model_span, None if trailing else last_end


@settings(max_examples=80, deadline=None)
@given(document=jsonc_documents())
def test_an_export_changing_one_value_keeps_every_other_byte(document):
    text, newline, indent, model_span, comma_at = document
    value = json.dumps(SET_MODEL)
    if model_span is not None:  # the value is replaced where it stands
        expected = text[: model_span[0]] + value + text[model_span[1] :]
    else:  # a new last member on its own line, after a comma the old last member now needs
        before_close = len(text) - len("}" + newline) - len(newline)
        expected = text[:before_close] + f'{newline}{indent}"model": {value}' + text[before_close:]
        if comma_at is not None:
            expected = expected[:comma_at] + "," + expected[comma_at:]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "opencode.jsonc"
        path.write_bytes(text.encode())
        diff = plan_export(path, CHOICE, set_model=SET_MODEL).diff()
        export_opencode_config(path, CHOICE, set_model=SET_MODEL)
        assert path.read_bytes() == expected.encode()
        assert [p.read_bytes() for p in Path(folder).glob("*.bak")] == [text.encode()]
    if model_span is not None:  # the diff is that one line, with the file's line ending
        start = text.rfind("\n", 0, model_span[0]) + 1
        end = text.index("\n", model_span[1]) + 1
        shift = len(value) - (model_span[1] - model_span[0])
        changed = [line for line in re.findall(r"[^\n]*\n", diff)[2:] if line[0] in "+-"]
        assert changed == ["-" + text[start:end], "+" + expected[start : end + shift]]


# --- owner, group and mode ---------------------------------------------------------------------


@as_root
def test_the_replaced_file_and_its_backup_keep_owner_group_and_mode(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text("{}")
    os.chown(path, 1234, 2345)
    path.chmod(0o640)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotKept)
        export_opencode_config(path, CHOICE)
    [backup] = backups(tmp_path)
    for written in (path, backup):
        info = written.stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (1234, 2345, 0o640)
    assert backup.read_text() == "{}"


@as_root
def test_an_owner_that_cannot_be_kept_is_one_warning_line(cli, tmp_path, catalog_file, monkeypatch):
    path = tmp_path / "opencode.json"
    path.write_text("{}")
    os.chown(path, 1234, 2345)

    def not_permitted(*_args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chown", not_permitted)
    result = cli("export", "--config", str(path), "--source", str(catalog_file), "--layout", "plugin")
    assert result.code == 0 and result.out.startswith(f"wrote {path} ")
    assert result.err == (
        f"warning: {path} was owned by uid 1234 gid 2345 and is now owned by uid 0 gid 0 "
        "(this process may not change owners); chown it back if that matters\n"
    )
    assert path.stat().st_uid == 0 and '"opencode-combined-models"' in path.read_text()


def test_a_hard_linked_config_is_written_with_one_warning_line(cli, tmp_path, catalog_file):
    path = tmp_path / "opencode.json"
    path.write_text("{}")
    os.link(path, tmp_path / "other-name.json")
    result = cli("export", "--config", str(path), "--source", str(catalog_file), "--layout", "plugin")
    assert result.code == 0 and result.out.startswith(f"wrote {path} ")
    assert result.err == (
        f"warning: {path} had 1 other hard link(s); they keep the old text, the new text is only under this name\n"
    )
    assert (tmp_path / "other-name.json").read_text() == "{}"


def test_write_atomic_keeps_an_owner_it_already_has(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotKept)
        write_atomic(path, "new")
    assert path.read_text() == "new" and (path.stat().st_uid, path.stat().st_gid) == (os.geteuid(), os.getegid())


# --- backups and failed writes -----------------------------------------------------------------


def test_a_failed_replace_leaves_the_file_and_no_backup(tmp_path, monkeypatch):
    path = tmp_path / "opencode.json"
    path.write_text("{}")

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(
        UserError, match=r"^cannot write .*opencode\.json: No space left on device; nothing was changed$"
    ):
        export_opencode_config(path, CHOICE)
    assert listing(tmp_path) == {"opencode.json": b"{}"}


def test_without_hard_links_the_backup_is_a_copy_with_the_same_owner_and_mode(tmp_path, monkeypatch):
    path = tmp_path / "opencode.json"
    path.write_text("{}")
    path.chmod(0o604)

    def no_links(src, dst):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    export_opencode_config(path, CHOICE)
    [backup] = backups(tmp_path)
    assert backup.read_text() == "{}" and backup.stat().st_ino != path.stat().st_ino
    assert (backup.stat().st_mode & 0o7777, backup.stat().st_uid) == (0o604, path.stat().st_uid)


def test_a_backup_that_cannot_be_made_stops_the_export_with_one_line(tmp_path, monkeypatch):
    path = tmp_path / "opencode.json"
    path.write_text("{}")

    def denied(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "link", denied)
    monkeypatch.setattr("shutil.copy2", denied)
    with pytest.raises(UserError, match=r"^cannot write .*opencode\.json: Permission denied; nothing was changed$"):
        export_opencode_config(path, CHOICE)
    assert listing(tmp_path) == {"opencode.json": b"{}"}


def test_a_lone_surrogate_plugin_spec_is_one_line_and_leaves_nothing(cli, tmp_path, catalog_file):
    path = tmp_path / "opencode.jsonc"
    path.write_text('{"plugin": ["opencode-combined-models@\\ud800"]}')
    before = listing(tmp_path)
    result = cli("export", "--config", str(path), "--source", str(catalog_file))
    assert result.code == 2 and result.out == ""
    assert result.err == (
        f"error: {path}: the plugin entry 'opencode-combined-models@\\ud800' holds a lone surrogate escape "
        "(\\ud800-\\udfff alone is not text); fix or remove that entry\n"
    )
    assert listing(tmp_path) == before


def test_a_lone_surrogate_elsewhere_is_written_back_as_its_escape(tmp_path):
    path = tmp_path / "opencode.jsonc"
    path.write_text('{"plugin": [["other", {"label": "a\\udc00b"}]]}')
    export_opencode_config(path, CHOICE)
    assert '"label": "a\\udc00b"' in path.read_text(encoding="utf-8")
    assert jsonc.load(path)["plugin"][0] == ["other", {"label": "a\udc00b"}]


# --- --plugin ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "@",
        "file://",
        "file:///",
        "a b",
        "x{",
        "{}",
        "na\nme",
        "name\r",
        "@scope",
        "@scope/",
        "-x",
        "pkg@",
        "pkg@1 || 2",
    ],
)
def test_plugin_specs_opencode_cannot_load_are_refused(spec):
    with pytest.raises(UserError) as caught:
        check_plugin_spec(spec)
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "--plugin takes an npm package name with an optional @version (opencode-combined-models, "
        f"@scope/name@1.2.0) or a file:// URL to the plugin, not {ascii(spec)}"
    )


@pytest.mark.parametrize(
    "spec",
    [
        "opencode-combined-models",
        "opencode-combined-models@0.9.1",
        "@scope/name",
        "@scope/name@^1.2.0",
        "name@latest",
        "file:///src/opencode-combined-models",
        "file:///src/plugin/index.ts",
        "file:///src/plugin/",
    ],
)
def test_plugin_specs_opencode_loads_are_accepted(spec):
    assert check_plugin_spec(spec) == spec


def test_cli_refuses_a_bad_plugin_spec_before_touching_anything(cli, tmp_path, catalog_file):
    path = tmp_path / "opencode.json"
    path.write_text("{}")
    result = cli("export", "--config", str(path), "--source", str(catalog_file), "--plugin", "evil\n}")
    assert result.code == 2 and result.err.count("\n") == 1
    assert result.err.endswith("or a file:// URL to the plugin, not 'evil\\n}'\n")
    assert listing(tmp_path) == {"opencode.json": b"{}"}


# --- paths that are not a regular file ---------------------------------------------------------


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return "is a named pipe (FIFO), not a regular file; point at the file itself"


def _loop(path: Path) -> str:
    path.symlink_to(path.with_name("other"))
    path.with_name("other").symlink_to(path)
    return "is a symlink loop; point at the real file"


def _socket(path: Path) -> str:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    return "is a socket, not a regular file; point at the file itself"


@pytest.mark.parametrize("make", [_fifo, _loop, _socket])
def test_a_config_that_is_not_a_regular_file_is_one_line_and_never_read(cli, tmp_path, catalog_file, make):
    path = tmp_path / "opencode.json"
    problem = make(path)
    names = sorted(p.name for p in tmp_path.iterdir())
    result = cli("export", "--config", str(path), "--source", str(catalog_file))
    assert result.code == 2 and result.out == ""
    assert result.err == f"error: {path} {problem}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_a_character_device_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"^/dev/null is a character device, not a regular file"):
        read_existing(Path("/dev/null"))


def test_reading_a_fifo_as_jsonc_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "cfg.json")
    with pytest.raises(UserError, match=r"cfg\.json is a named pipe \(FIFO\), not a regular file"):
        jsonc.load(tmp_path / "cfg.json")


def test_a_symlinked_config_is_written_through_and_stays_a_link(tmp_path):
    real_dir = tmp_path / "dotfiles"
    real_dir.mkdir()
    real = real_dir / "opencode.json"
    real.write_bytes(b'{\r\n  "theme": "dark"\r\n}\r\n')
    link = tmp_path / "opencode.json"
    link.symlink_to(real)
    export_opencode_config(link, CHOICE)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert jsonc.load(real)["combined_models"] == CHOICE.options() and b"\r\n" in real.read_bytes()
    assert [b.read_bytes() for b in backups(real_dir)] == [b'{\r\n  "theme": "dark"\r\n}\r\n']
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dotfiles", "opencode.json"]  # nothing beside the link


# --- the lock ----------------------------------------------------------------------------------


def test_an_export_while_another_holds_the_folder_is_a_clear_refusal(cli, tmp_path, catalog_file, monkeypatch):
    path = tmp_path / "opencode.json"
    path.write_text("{}")
    monkeypatch.setattr(filelock, "DEFAULT_WAIT_S", 0.0)
    holder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # what a running export holds
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        result = cli("export", "--config", str(path), "--source", str(catalog_file))
    finally:
        os.close(holder)
    assert result.code == 2 and result.out == ""
    assert result.err.splitlines()[-1] == f"error: another export is writing {path}; try again when it has finished"
    assert listing(tmp_path) == {"opencode.json": b"{}"}
    assert cli("export", "--config", str(path), "--source", str(catalog_file)).code == 0  # released: it goes


def test_the_lock_nests_within_one_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(filelock, "DEFAULT_WAIT_S", 0.0)
    with filelock.folder_lock([tmp_path / "a"]), filelock.folder_lock([tmp_path / "b", tmp_path / "a"]):
        write_atomic(tmp_path / "a", "x")
    with filelock.folder_lock([tmp_path / "a"]):  # and it was released
        pass


def test_another_thread_of_the_same_process_waits_for_the_lock(tmp_path):
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with filelock.folder_lock([tmp_path / "a"]):
            held.set()
            release.wait(timeout=120)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(timeout=120)
        with pytest.raises(UserError, match=r"^another export is writing .*/a; try again when it has finished$"):
            with filelock.folder_lock([tmp_path / "a"], wait_s=0.0):
                pass
    finally:
        release.set()
        thread.join()
    with filelock.folder_lock([tmp_path / "a"], wait_s=0.0):  # released with the thread's block
        pass


def test_ten_racing_exports_each_end_in_a_real_success_or_a_clear_refusal(tmp_path, catalog_file):
    path = tmp_path / "opencode.json"
    original = b'{\r\n  "plugin": []\r\n}\r\n'
    path.write_bytes(original)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "toolkit", "export", "--config", str(path), "--source", str(catalog_file)]
            + ["--priority", "anthropic", "--plugin", f"plugin-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(10)
    ]
    successes, refusals = {}, []
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=600)
        if proc.returncode == 0:
            match = re.fullmatch(rf"wrote {re.escape(str(path))} \(previous version saved as (\S+\.bak)\)\n", out)
            assert match, out
            successes[f"plugin-{i}"] = Path(match.group(1))
        else:
            assert proc.returncode == 2 and out == "", (out, err)
            assert re.fullmatch(
                r"error: (another export is writing .*; try again when it has finished"
                r"|.* changed since this export was planned; run the export again)",
                err.splitlines()[-1],
            ), err
            refusals.append(i)
    assert successes and len(successes) + len(refusals) == 10
    final = jsonc.load(path)["plugin"]
    assert sorted(final) == sorted(successes)  # every success is in the file: none was lost
    # one backup per success, each the state the one before it left: the writes followed one another
    chain = [jsonc.load(b)["plugin"] for b in backups(tmp_path)]
    assert sorted(successes.values()) == backups(tmp_path)
    assert chain == [final[:n] for n in range(len(final))]
    assert path.read_bytes().count(b"\n") == path.read_bytes().count(b"\r\n")  # still CRLF
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".bak")) == ["opencode.json"]


def test_a_broken_config_is_refused_before_any_catalog_download(cli, tmp_path, monkeypatch):
    from toolkit import catalog

    fetched: list[str] = []

    def fetch_cached(url: str, **_options: object) -> None:
        fetched.append(url)
        raise AssertionError("the catalog was fetched before the config was read")

    monkeypatch.setattr(catalog, "fetch_cached", fetch_cached)
    path = tmp_path / "opencode.json"
    path.write_text("[" * 100_000)
    before = listing(tmp_path)
    result = cli("export", "--config", str(path), "--layout", "gateway")  # default --source auto
    assert result.code == 2 and fetched == []
    assert result.err == f"error: {path}: nested more than 64 levels deep; fix the file and retry\n"
    assert listing(tmp_path) == before
