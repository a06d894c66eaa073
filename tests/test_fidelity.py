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
