"""Fidelity metrics (akd.fidelity) against values computed by hand."""

import pytest
import torch

from akd.fidelity import fidelity


def test_fidelity_against_hand_computed_values():
    """Teacher rows (1, 0), (1, 0); student rows (2, 0), (0, 1): top-1 agrees on row 1 only (50 %).
    p = softmax(1, 0) = (0.731059, 0.268941). Row 1, q = softmax(2, 0) = (0.880797, 0.119203):
    KL = 0.731059 ln(0.731059/0.880797) + 0.268941 ln(0.268941/0.119203) = 0.082606.
    Row 2, q = (0.268941, 0.731059): KL = 0.731059 - 0.268941 = 0.462117. Mean 0.272362."""
    out = fidelity(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert out["test_agreement"] == pytest.approx(50.0)
    assert out["test_kl_teacher"] == pytest.approx(0.272362, abs=1e-6)
    same = fidelity(torch.tensor([[0.3, 2.0, -1.0]]), torch.tensor([[0.3, 2.0, -1.0]]))
    assert same == {"test_agreement": 100.0, "test_kl_teacher": pytest.approx(0.0, abs=1e-12)}


def test_student_fidelity_uses_the_outputs_the_run_already_has():
    """The run hands on its selected checkpoint's test outputs: the student is not run again, and
    the numbers are those of the outputs given (here, the teacher's own: full agreement)."""
    from types import SimpleNamespace

    from akd.fidelity import _TEST_OUTPUTS, student_fidelity

    class Unrunnable(torch.nn.Module):
        def forward(self, x):
            raise AssertionError("the student was run again on the test split")

    teacher = torch.nn.Identity()
    table = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 3.0]])
    _TEST_OUTPUTS[teacher] = table
    task = SimpleNamespace(regression=False)
    got = student_fidelity(Unrunnable(), teacher, "t", task, None, None, 2, outputs=table.clone())
    assert got == {"test_agreement": 100.0, "test_kl_teacher": pytest.approx(0.0, abs=1e-12)}


def test_a_run_hands_its_selected_students_test_outputs_to_fidelity(in_tmp, monkeypatch):
    """KD (one stage) and Annealing-KD (the last stage learns without the teacher): the outputs a run
    passes are the ones its returned student gives on the test split, so fidelity is unchanged by
    skipping that pass."""
    import akd.jobs as jobs
    from akd.cli import main
    from akd.engine import predict
    from tests.sweep_fixture import write_bench

    seen = []

    def spy(student, teacher, arch, task, rt, cache, batch_size, outputs=None):  # noqa: ANN001
        assert outputs is not None
        again, _ = predict(student, task, "test", batch_size, rt)
        seen.append(torch.equal(outputs, again.cpu()))
        return {}

    monkeypatch.setattr(jobs, "student_fidelity", spy)
    bench = write_bench(in_tmp)
    assert main(["bench", str(bench), "--profile", "smoke", "--methods", "kd", "annealing", "--seeds", "0"]) == 0
    assert seen == [True, True]
