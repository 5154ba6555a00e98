"""Cold start: `import multimodal`, `--help`, `COMMAND --help` and usage errors load no torch, open_clip,
chromadb or gradio (each costs seconds), so a mistake is reported at once and the help is instant."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from multimodal.cli.main import COMMANDS, build_parser
from tests.fixtures.processes import cli_env

HEAVY = ("torch", "open_clip", "chromadb", "gradio")
REPO = Path(__file__).resolve().parent.parent
LIGHT_COMMANDS = list(COMMANDS)


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = cli_env(XDG_DATA_HOME=str(tmp_path / "xdg"), MULTIMODAL_INDEX_DIR=str(tmp_path / "index"))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)


def test_importing_the_package_and_its_api_names_loads_no_heavy_module(tmp_path: Path) -> None:
    proc = _python(f"""
        import sys
        import multimodal
        before = [m for m in {HEAVY!r} if m in sys.modules]
        from multimodal import Filters, Index, Term, open_index
        after = [m for m in {HEAVY!r} if m in sys.modules]
        print(before, after, callable(open_index), Index.__name__, Filters.__name__, Term.__name__)
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:2] == ["[]", "[]"], proc.stdout
    assert "True Index Filters Term" in proc.stdout


def test_help_command_help_and_usage_errors_load_no_heavy_module(tmp_path: Path) -> None:
    cases = [["--help"], [], ["nonsense"], ["search"], ["search", "x", "--since", "yesterday"],
             ["search", "x", "--term", "bad"], ["ingest"], *[[name, "--help"] for name in LIGHT_COMMANDS]]
    proc = _python(f"""
        import contextlib, io, json, sys
        from multimodal.cli.main import main
        out = []
        for argv in {cases!r}:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
                try:
                    code = main(argv)
                except SystemExit as e:
                    code = e.code
            out.append([argv, code, [m for m in {HEAVY!r} if m in sys.modules], err.getvalue()[-200:]])
        print(json.dumps(out))
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == len(cases)
    for argv, code, loaded, err in results:
        assert loaded == [], f"multimodal {' '.join(argv)} imported {loaded}"
        assert code == (0 if "--help" in argv else 2), (argv, code, err)
    assert "give a text query" in results[3][3]  # `search` without a query: the library's own message


def test_python_m_multimodal_help_imports_no_heavy_module(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "multimodal", "--help"], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0 and "search" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    assert imported and not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_the_command_table_matches_each_command_modules_own_help() -> None:
    parser = build_parser()  # every command's module
    subparsers = next(a for a in parser._actions if a.dest == "command")
    own = {action.dest: action.help for action in subparsers._choices_actions}
    assert own == COMMANDS


def test_info_reads_the_index_without_loading_a_model(tmp_path: Path, photo_folder: Path) -> None:
    from multimodal.config import Settings
    from multimodal.index import Index
    from tests.fixtures.fake_encoder import FakeEncoder

    Index.open(Settings.resolve(index_dir=tmp_path / "index"), encoder=FakeEncoder()).ingest(photo_folder)
    proc = _python(f"""
        import contextlib, io, sys
        from multimodal.cli.main import main
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = main(["info"])
        print(code, [m for m in {HEAVY!r} if m in sys.modules])
        print(out.getvalue())
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    first, rest = proc.stdout.split("\n", 1)
    assert first == "0 []"  # the index's SQLite file read directly: no chromadb, no model, no torch
    assert "images:      6" in rest
