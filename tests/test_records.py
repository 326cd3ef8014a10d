"""What experiments leave behind, in process: tables, CSV files read back by value, the numbering of a
reused folder, the checks on a model's path."""
import csv
import os

import pytest

from convae import records
from convae.errors import UserError
from convae.params import Param, integer, integer_list, real

PARAMS = [Param("layers", integer(1, 6), 3, ""), Param("filters", integer_list(1, 1024), [8], ""),
          Param("dropout", real(0.0, 1.0), 0.1, "")]
COLUMNS = [("experiment", "#"), ("layers", "layers"), ("filters", "filters"), ("dropout", "dropout"),
           ("parameters", "parameters"), ("val_loss", "val_loss"), ("status", "status"), ("saved", "saved to")]


def test_a_csv_reads_back_the_values_it_was_written_with(tmp_path):
    rows = [{"experiment": 1, "layers": 2, "filters": [4, 8], "dropout": 0.25, "parameters": 1234,
             "val_loss": 0.123456, "status": "complete", "saved": None},
            {"experiment": 2, "layers": 1, "filters": [16], "dropout": 0.0, "parameters": 99,
             "val_loss": 0.5, "status": "stopped at epoch 1 of 2", "saved": "m.h5"}]
    path = records.write_csv(str(tmp_path / "experiments.csv"), rows, COLUMNS)
    with open(path) as f:
        assert next(csv.reader(f)) == [key for key, _ in COLUMNS]
    back = records.read_rows(path, PARAMS)
    assert back[0] == dict(rows[0], val_loss=0.1235)  # four decimals in the file
    assert back[1] == dict(rows[1], val_loss=0.5)
    assert records.read_rows(path, PARAMS, below=2) == back[:1]
    assert records.read_rows(str(tmp_path / "none.csv"), PARAMS) == []


def test_a_table_aligns_its_columns_under_a_rule():
    table = records.format_table([{"experiment": 1, "dropout": 0.25}, {"experiment": 10, "dropout": None}],
                                 [("experiment", "#"), ("dropout", "dropout")])
    assert table.splitlines() == [" #  dropout", "--  -------", " 1   0.2500", "10         "]


def test_a_reused_folder_is_numbered_after_its_files_and_rows(tmp_path):
    assert records.last_experiment(str(tmp_path)) == 0
    (tmp_path / "experiment-3-loss.png").write_bytes(b"")
    (tmp_path / "test-experiment-4").mkdir()
    (tmp_path / "after-experiment-2-vs-hyperparameters.png").write_bytes(b"")
    (tmp_path / "experiment-notes.txt").write_text("")
    assert records.last_experiment(str(tmp_path)) == 4
    (tmp_path / "experiments.csv").write_text("experiment,layers\n7,2\nx,1\n")
    assert records.last_experiment(str(tmp_path)) == 7
    (tmp_path / "checkpoint.npz").write_bytes(b"")
    with pytest.raises(UserError, match="holds the checkpoint of an experiment that a killed run left"):
        records.last_experiment(str(tmp_path))


def test_another_programs_csv_is_refused(tmp_path):
    path = tmp_path / "experiments.csv"
    records.check_columns(str(path), COLUMNS)  # none yet
    path.write_text(",".join(key for key, _ in COLUMNS) + "\n")
    records.check_columns(str(path), COLUMNS)
    path.write_text("experiment,fc_units\n")
    with pytest.raises(UserError, match="the experiments of another program"):
        records.check_columns(str(path), COLUMNS)


def test_a_model_path_is_checked_before_any_work(tmp_path):
    records.check_save_path(str(tmp_path / "m.h5"))
    records.check_save_path(str(tmp_path / "m.keras"))
    for bad, words in ((tmp_path / "m.hdf", "expected a file name ending in .h5"),
                       (tmp_path / "no" / "m.h5", "does not exist")):
        with pytest.raises(UserError, match=words):
            records.check_save_path(str(bad))
    (tmp_path / "d.h5").mkdir()
    with pytest.raises(UserError, match="it is a directory"):
        records.check_save_path(str(tmp_path / "d.h5"))
    (tmp_path / "m.h5").write_bytes(b"an earlier model")
    records.check_save_path(str(tmp_path / "m.h5"))  # overwriting allowed by default (asked at the prompt)
    with pytest.raises(UserError, match="give --overwrite"):
        records.check_save_path(str(tmp_path / "m.h5"), overwrite=False)
    assert records.description_path("models/m.h5") == os.path.join("models", "m.json")


def test_predictions_are_written_one_row_per_image(tmp_path):
    path = records.write_predictions(str(tmp_path / "p.csv"), [3, 1], [3, 7], [0.9, 0.123456789])
    with open(path) as f:
        assert list(csv.reader(f)) == [["index", "true", "predicted", "confidence"], ["0", "3", "3", "0.900000"],
                                       ["1", "1", "7", "0.123457"]]


def test_a_timer_adds_the_seconds_of_earlier_runs():
    clock = records.timer(100.0)
    assert 100.0 <= clock() < 101.0


def _session_with(tmp_path, answers, higher_is_better, figures, saved=()):
    """A Session holding experiments whose best metric takes `figures`, in order (no network)."""
    import io
    import types

    from convae.prompts import Prompter
    from convae.session import Session
    out = io.StringIO()
    metric = "val_accuracy" if higher_is_better else "val_loss"
    definition = types.SimpleNamespace(columns=[], hyperparameters=[], best_metric=metric,
                                       higher_is_better=higher_is_better)
    session = Session(str(tmp_path), definition, Prompter(True, io.StringIO(answers), out))
    for number, figure in enumerate(figures, 1):
        session.experiments.append(records.Experiment(
            number, {}, None, {}, 1.0, 10, metrics={metric: figure},
            saved_to=str(tmp_path / "m.h5") if number in saved else None))
    return session, out


@pytest.mark.parametrize("higher_is_better, figures, best", [
    (True, [0.90, 0.97, 0.95], 2), (False, [0.30, 0.10, 0.20], 2), (True, [0.99, 0.90], 1), (False, [0.1, 0.2], 1)],
    ids=["accuracy-middle", "loss-middle", "accuracy-first", "loss-first"])
def test_the_best_experiment_is_the_highest_accuracy_or_the_lowest_loss(tmp_path, higher_is_better, figures, best):
    session, out = _session_with(tmp_path, "\n", higher_is_better, figures)
    assert session.best().number == best
    assert session.pick("Experiment to classify", session.best()).number == best  # Enter takes the best
    assert f"Experiment to classify [{best}]:" in out.getvalue()


def test_exit_asks_about_the_last_and_the_best_where_not_saved(tmp_path):
    # the best (1) and the last (3) unsaved: both named; "n" stays
    session, out = _session_with(tmp_path, "n\n", True, [0.99, 0.90, 0.95], saved=[2])
    assert session.confirm_exit() is False
    assert "Experiment 3 (the last) and experiment 1 (the best) not saved. Exit anyway? (y/n) [n]:" in out.getvalue()
    # the best is the last and is saved, the others are not worth a word: no question
    session, out = _session_with(tmp_path, "", True, [0.90, 0.99], saved=[2])
    assert session.confirm_exit() is True and out.getvalue() == ""
    # only the best unsaved: "y" leaves
    session, out = _session_with(tmp_path, "y\n", False, [0.1, 0.3], saved=[2])
    assert session.confirm_exit() is True
    assert "Experiment 1 (the best) not saved. Exit anyway?" in out.getvalue()


def test_the_files_and_rows_of_a_folder_each_count_and_a_stray_csv_is_read_without_error(tmp_path):
    (tmp_path / "experiment-5-loss.png").write_bytes(b"")
    (tmp_path / "experiments.csv").write_text("experiment,layers\n2,1\n")
    assert records.last_experiment(str(tmp_path)) == 5  # the figures number past the rows
    (tmp_path / "experiments.csv").write_text("layers,dropout\n1,0.5\n")  # no experiment column
    assert records.last_experiment(str(tmp_path)) == 5


def test_refusals_about_a_folder_say_what_to_do_in_one_line(tmp_path):
    (tmp_path / "checkpoint.npz").write_bytes(b"")
    with pytest.raises(UserError) as e:
        records.last_experiment(str(tmp_path))
    assert str(e.value) == (f"{tmp_path} holds the checkpoint of an experiment that a killed run left: continue it "
                            f"with --resume, or remove {tmp_path / 'checkpoint.npz'} to start afresh")
    path = tmp_path / "experiments.csv"
    path.write_text("experiment,fc_units\n")
    with pytest.raises(UserError) as e:
        records.check_columns(str(path), COLUMNS)
    assert str(e.value) == f"{path}: the experiments of another program (other columns); choose another --output-dir"


def test_rows_that_cannot_be_read_are_left_out_one_by_one(tmp_path):
    path = tmp_path / "experiments.csv"
    path.write_text("experiment,layers,filters,dropout,parameters,val_loss,status,saved\n"
                    "1,2,4,0.1,100,0.5,complete,\n3,2,4,0.1,100,0.4,complete,\n"
                    "x,2,4,0.1,100,0.3,complete,\n2,1,8,0.2,50,0.2,complete,\n")
    back = records.read_rows(str(path), PARAMS)
    assert [r["experiment"] for r in back] == [1, 3, 2]  # row "x" left out, the row after it kept
    assert [r["experiment"] for r in records.read_rows(str(path), PARAMS, below=3)] == [1, 2]
    assert all(type(r["experiment"]) is int and type(r["parameters"]) is int for r in back)


def test_a_csv_ends_its_lines_as_unix_does(tmp_path):
    path = records.write_csv(str(tmp_path / "e.csv"), [{"experiment": 1, "layers": 2}], COLUMNS)
    data = open(path, "rb").read()
    assert b"\r" not in data and data.endswith(b"\n") and data.count(b"\n") == 2


def test_a_new_timer_starts_from_zero():
    assert 0.0 <= records.timer()() < 1.0


def test_an_empty_csv_is_no_other_programs_and_a_folder_without_write_permission_is_named(tmp_path, monkeypatch):
    (tmp_path / "experiments.csv").write_bytes(b"")
    records.check_columns(str(tmp_path / "experiments.csv"), COLUMNS)
    monkeypatch.setattr(records.os, "access", lambda path, mode: False)  # as a user without the right (not root)
    with pytest.raises(UserError) as e:
        records.check_save_path(str(tmp_path / "m.h5"))
    assert str(e.value) == f"cannot save {tmp_path / 'm.h5'}: no permission to write in {tmp_path}"
