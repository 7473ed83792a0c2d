"""The dvc.lock merge, stage by stage, as git merges files (stages/tools/sharing/lock_merge.py):
one side's change is taken, alike changes kept, different changes dropped so `dvc repro`
decides, a removal on one side taken when the other did not touch the stage."""

from __future__ import annotations

import yaml

from stages.tools.sharing.lock_merge import (
    DROPPED,
    merge_entry,
    merge_lock_files,
    merge_stages,
    read_lock,
)

A, B, C = {"cmd": "a"}, {"cmd": "b"}, {"cmd": "c"}


def test_an_entry_changed_on_one_side_is_taken_from_it():
    assert merge_entry(A, B, A) == B
    assert merge_entry(A, A, B) == B


def test_an_entry_changed_alike_on_both_sides_is_kept():
    assert merge_entry(A, B, B) == B


def test_an_entry_changed_differently_is_dropped():
    assert merge_entry(A, B, C) is DROPPED
    assert merge_entry(None, B, C) is DROPPED  # added on both sides, differently


def test_removed_on_one_side_and_untouched_on_the_other_is_removed():
    assert merge_entry(A, None, A) is None
    assert merge_entry(A, A, None) is None
    assert merge_entry(A, None, B) is DROPPED  # removed here, changed there


def test_the_stages_keep_our_order_then_theirs_new_ones():
    base = {"x": A, "y": A, "gone": A}
    ours = {"y": B, "x": A, "mine": C}
    theirs = {"x": C, "y": A, "theirs": B, "gone": A}
    merged, dropped = merge_stages(base, ours, theirs)
    assert list(merged) == ["y", "x", "mine", "theirs"]
    assert merged == {"y": B, "x": C, "mine": C, "theirs": B}
    assert dropped == []


def test_the_dropped_stages_are_named_and_left_out():
    merged, dropped = merge_stages({"x": A, "y": A}, {"x": B, "y": B}, {"x": C, "y": B})
    assert merged == {"y": B} and dropped == ["x"]


def test_a_side_without_a_file_reads_as_empty(tmp_path):
    assert read_lock(tmp_path / "missing.lock") == {}
    (tmp_path / "empty.lock").write_text("")
    assert read_lock(tmp_path / "empty.lock") == {}


def test_the_files_merge_into_ours_in_dvcs_own_layout(tmp_path):
    def lock(path, stages, **extra):
        path.write_text(yaml.safe_dump({"schema": "2.0", **extra, "stages": stages},
                                       sort_keys=False))
        return path

    base = lock(tmp_path / "base", {"train@a": A, "train@b": A})
    ours = lock(tmp_path / "ours", {"train@a": B, "train@b": A})
    theirs = lock(tmp_path / "theirs", {"train@a": A, "train@b": C}, extra="theirs")
    assert merge_lock_files(base, ours, theirs) == []
    merged = yaml.safe_load(ours.read_text())
    assert merged == {"schema": "2.0", "extra": "theirs",
                      "stages": {"train@a": B, "train@b": C}}
    assert ours.read_text().startswith("schema: '2.0'\n")

    lock(theirs, {"train@a": C, "train@b": A})
    lock(ours, {"train@a": B, "train@b": A})
    assert merge_lock_files(base, ours, theirs) == ["train@a"]
    assert yaml.safe_load(ours.read_text())["stages"] == {"train@b": A}
