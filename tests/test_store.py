import pytest
import torch

from akd.errors import AkdError
from akd.store import ModelStore, load_checkpoint, recipe_key


def test_recipe_key_is_order_independent_and_sensitive():
    a = recipe_key({"arch": "resnet8", "epochs": 2, "optim": {"lr": 0.1, "momentum": 0.9}})
    b = recipe_key({"optim": {"momentum": 0.9, "lr": 0.1}, "epochs": 2, "arch": "resnet8"})
    assert a == b
    assert a != recipe_key({"arch": "resnet8", "epochs": 3, "optim": {"lr": 0.1, "momentum": 0.9}})


def test_roundtrip_and_corruption_is_detected(tmp_path):
    store = ModelStore(tmp_path)
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    store.save("k1", state, {"results": {"test_acc": 50.0}})
    loaded, meta = store.load("k1")
    assert torch.equal(loaded["w"], state["w"]) and meta["results"]["test_acc"] == 50.0
    assert not list(tmp_path.glob(".k1-*"))  # no temporary folder left behind
    path = tmp_path / "k1" / "model.pt"
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(AkdError, match="corrupt"):
        store.load("k1")


def test_user_checkpoint_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(AkdError, match="corrupt or not a torch file"):
        load_checkpoint(bad)
    nested = tmp_path / "nested.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 3}, nested)
    assert torch.equal(load_checkpoint(nested)["w"], torch.ones(2))
