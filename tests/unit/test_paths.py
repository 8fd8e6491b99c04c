"""The default build folder is the repository's, wherever a command or notebook starts (#18 item 3)."""

from __future__ import annotations

from evaluation.paths import BUILD_DIR, REPO_ROOT, build_folder


def test_default_build_folder_is_the_repositorys_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as a notebook opened from notebooks/ would be
    assert BUILD_DIR == REPO_ROOT / "build"
    for value in (None, "", "build"):
        assert build_folder(value) == BUILD_DIR
    assert build_folder("elsewhere") == tmp_path / "elsewhere"
    assert build_folder(tmp_path / "b") == tmp_path / "b"
