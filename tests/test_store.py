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


def _entry(tmp_path):
    store = ModelStore(tmp_path)
    store.save("k", {"w": torch.ones(3)}, {"results": {"test_acc": 1.0}})
    return store, tmp_path / "k"


@pytest.mark.parametrize(
    "damage,problem",
    [
        (lambda e: (e / "meta.json").unlink(), "meta.json is missing"),
        (lambda e: (e / "model.pt").unlink(), "model.pt is missing"),
        (lambda e: (e / "meta.json").write_text("{not json"), "meta.json is unreadable (JSONDecodeError)"),
        (lambda e: (e / "model.pt").write_bytes(b"bit rot"), "model.pt fails its checksum"),
    ],
)
def test_an_unusable_entry_is_reported_once_and_replaced(tmp_path, damage, problem):
    store, entry = _entry(tmp_path)
    damage(entry)
    assert not store.has("k") and store.problem("k") == problem
    with pytest.raises(AkdError, match="unusable"):
        store.load("k")
    said = []
    with store.locked("k", said.append):
        store.save("k", {"w": torch.full((3,), 2.0)}, {"results": {"test_acc": 2.0}})
    assert said == [f"stored model {entry} is unusable ({problem}); it will be trained again and replaced"]
    state, meta = store.load("k")  # repaired: the next invocation reuses it, nothing is trained again
    assert torch.equal(state["w"], torch.full((3,), 2.0)) and meta["results"]["test_acc"] == 2.0
    said.clear()
    with store.locked("k", said.append):
        assert store.has("k")
    assert said == []


def test_a_valid_entry_wins_a_lost_race_and_temporaries_are_cleaned(tmp_path):
    store, entry = _entry(tmp_path)
    store.save("k", {"w": torch.zeros(3)}, {})  # another process finished first: theirs is kept
    assert torch.equal(store.load("k")[0]["w"], torch.ones(3))
    (tmp_path / ".k-dead123").mkdir()  # left by a writer that was killed mid-save
    (tmp_path / ".k-dead123" / "model.pt").write_bytes(b"half")
    with store.locked("k", print):
        pass
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["k"]


def test_fits_checks_names_shapes_dtypes_and_finiteness():
    from akd.store import check_fits

    model = torch.nn.Linear(2, 2)
    good = {k: v.clone() for k, v in model.state_dict().items()}
    assert check_fits(good, model, "f") is good
    for bad, message in (
        ({**good, "weight": torch.zeros(3, 2)}, "does not fit"),
        ({"weight": good["weight"]}, "does not fit"),
        ({**good, "bias": torch.zeros(2, dtype=torch.long)}, "bias holds torch.int64 values"),
        ({**good, "weight": torch.tensor([[0.0, float("inf")], [0.0, 0.0]])}, "weight holds NaN or infinite"),
    ):
        with pytest.raises(AkdError, match=message):
            check_fits(bad, model, "f")
