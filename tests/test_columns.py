"""Many trees stored as columns: layout, identity, and equality after a round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.tree import DecisionTreeClassifier

import satchel
from satchel.format import arrays, reader
from satchel.format.encoder import encode
from satchel.format.handlers import columns
from tests.equality import assert_deep_equal
from tests.forge import find


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 5))
    return features, (features[:, 0] + rng.normal(size=400) > 0).astype(int)


def _kinds(tree: Any) -> list[str]:
    found: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(str(node.get("$")))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def test_forest_trees_become_columns_of_a_few_arrays(data: Any) -> None:
    """A forest's trees are one objs node whose Tree nodes are one concatenated array."""
    forest = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(*data)
    tree, arrays = encode(forest)
    assert _kinds(tree).count("news") == 1
    assert _kinds(tree).count("objs") == 1
    assert len(arrays) <= 6
    trees = find(tree, lambda n: n.get("$") == "news")
    assert trees["n"] == 20
    assert trees["state"]["v"]["nodes"]["$"] == "cat"


@pytest.mark.parametrize("make", [
    lambda: RandomForestClassifier(n_estimators=7, max_depth=4, random_state=0),
    lambda: GradientBoostingRegressor(n_estimators=9, max_depth=2, random_state=0),
    lambda: HistGradientBoostingClassifier(max_iter=6, random_state=0),
], ids=["forest", "gradient-boosting", "hist-gbm"])
def test_columnar_models_load_equal_and_predict_the_same(make: Any, data: Any) -> None:
    """Trees and predictors stored as columns load deeply equal, dtypes and padding included."""
    model = make().fit(*data)
    loaded = satchel.loads(satchel.dumps(model)).unwrap()
    assert_deep_equal(model, loaded, "model")
    np.testing.assert_array_equal(model.predict(data[0]), loaded.predict(data[0]))


def test_mmap_members_are_views_of_the_file(tmp_path: Any, data: Any) -> None:
    """With mmap, predictors' node arrays are read-only views of one mapped array."""
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(*data)
    satchel.save(model, tmp_path / "m.satchel")
    loaded = satchel.load(tmp_path / "m.satchel", mmap=True).unwrap()
    nodes = [p.nodes for row in loaded._predictors for p in row]
    assert all(not n.flags.writeable for n in nodes)
    assert len({id(n.base) for n in nodes}) == 1
    np.testing.assert_array_equal(model.predict_proba(data[0]), loaded.predict_proba(data[0]))


def test_a_member_used_twice_stays_one_object(data: Any) -> None:
    """A tree referred to from elsewhere is the same object as the list's member after loading."""
    trees = [DecisionTreeClassifier(max_depth=2, random_state=i).fit(*data) for i in range(3)]
    loaded = satchel.loads(satchel.dumps({"trees": trees, "best": trees[1]}))
    assert loaded["best"] is loaded["trees"][1]
    assert_deep_equal(trees, loaded["trees"], "trees")


@pytest.mark.parametrize(("extra", "message"), [
    (np.array([0x110000] + [0x41] * 5000, dtype="<u4").view("<U1"), r"past U\+10FFFF"),
    # numpy 2.0 raised its limit of dimensions from 32 to 64, so a reader's limit of 32
    *([(np.zeros((1,) * 33), "33 dimensions")] if np.lib.NumpyVersion(np.__version__) >= "2.0.0"
      else []),
])
def test_a_column_a_reader_would_refuse_is_refused_at_save(extra: Any, message: str) -> None:
    """The members' arrays joined into one column pass the checks a lone array does."""
    trees = [DecisionTreeClassifier() for _ in range(3)]
    for tree in trees:
        tree.extra_ = extra.copy()
    with pytest.raises(satchel.EncodeError, match=message):
        satchel.dumps(trees)


def test_arrays_shared_between_members_are_not_concatenated(data: Any) -> None:
    """An array two members share keeps being one array, so members stay per member."""
    trees = [DecisionTreeClassifier(max_depth=2).fit(*data) for _ in range(3)]
    shared = np.arange(4.0)
    for member in trees:
        member.extra_ = shared
    tree, _ = encode(trees)
    members = find(tree, lambda n: n.get("$") == "objs")
    assert members["state"]["v"]["extra_"]["$"] == "each"
    loaded = satchel.loads(satchel.dumps(trees))
    assert loaded[0].extra_ is loaded[1].extra_ is loaded[2].extra_


def test_a_members_array_used_again_later_stays_one_array(data: Any) -> None:
    """An array stored in a concatenated column and used again afterwards (AdaBoost's
    classes_ is its first tree's, or two attributes of one member) is one array after
    loading, as it was before saving."""
    from sklearn.ensemble import AdaBoostClassifier

    ada = AdaBoostClassifier(n_estimators=4, random_state=0).fit(*data)
    assert ada.classes_ is ada.estimators_[0].classes_
    loaded = satchel.loads(satchel.dumps(ada)).unwrap()
    assert loaded.classes_ is loaded.estimators_[0].classes_
    trees = [DecisionTreeClassifier(max_depth=2, random_state=i).fit(*data) for i in range(3)]
    for i, member in enumerate(trees):
        member.a_ = member.b_ = np.arange(i + 3.0)
    tree, _ = encode({"trees": trees, "again": trees[1].a_})
    members = find(tree, lambda n: n.get("$") == "objs")
    assert members["state"]["v"]["a_"]["$"] == "cat"
    back = satchel.loads(satchel.dumps({"trees": trees, "again": trees[1].a_}))
    assert all(member.a_ is member.b_ for member in back["trees"])
    assert back["again"] is back["trees"][1].a_
    assert_deep_equal(trees, back["trees"], "trees")


def test_lists_of_other_objects_stay_plain(data: Any) -> None:
    """Mixed lists, and single members, are stored one by one."""
    tree_model = DecisionTreeClassifier(max_depth=2).fit(*data)
    for value in ([tree_model], [tree_model, RandomForestClassifier(n_estimators=2)]):
        assert "objs" not in _kinds(encode(value)[0])


def _links_hold(nodes: np.ndarray[Any, Any], n_features: int) -> bool:
    """The rule of the link check, one node at a time."""
    for index, node in enumerate(nodes):
        if node["left_child"] == -1:
            continue
        children = (int(node["left_child"]), int(node["right_child"]))
        if not all(index < child < len(nodes) for child in children) or not (
                0 <= node["feature"] < n_features):
            return False
    return True


@pytest.mark.parametrize("seed", range(40))
def test_the_batch_link_check_agrees_with_a_check_per_tree(seed: int) -> None:
    """Trees checked together (small ones batched, large ones sliced) pass when each does."""
    from sklearn.tree._tree import NODE_DTYPE

    from satchel.errors import FormatError
    from satchel.format.handlers import sklearn_

    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 3, 50, 4000, 20000], size=rng.integers(1, 8))
    trees = []
    for size in sizes:
        nodes = np.zeros(size, dtype=NODE_DTYPE)
        index = np.arange(size)
        internal = index < size // 2
        nodes["left_child"] = np.where(internal, 2 * index + 1, -1)
        nodes["right_child"] = np.where(internal, 2 * index + 2, -1)
        nodes["feature"] = np.where(internal, rng.integers(0, 5, size), -2)
        trees.append(nodes)
    if seed % 2:  # break one node of one tree
        broken = trees[rng.integers(len(trees))]
        inner = np.flatnonzero(broken["left_child"] != -1)
        if inner.size:
            node = rng.choice(inner)
            field, value = [("left_child", node), ("right_child", len(broken)),
                            ("feature", 5), ("left_child", -7)][seed % 4]
            broken[field][node] = value
    expected = all(_links_hold(t, 5) for t in trees)
    joined = np.concatenate(trees)
    try:
        sklearn_._check_links("Tree", joined, ("left_child", "right_child", "feature"),
                              sklearn_._tree_internal, np.full(len(trees), 5),
                              lengths=np.array([len(t) for t in trees]))
        found = True
    except FormatError:
        found = False
    assert found is expected


def test_a_column_mixing_none_and_arrays_is_stored_member_by_member(data: Any) -> None:
    """A column holding None for one member and an array for another saves and loads."""
    trees = [DecisionTreeClassifier(max_depth=2, random_state=0).fit(*data) for _ in range(2)]
    trees[1].monotonic_cst = np.array([1, 0, 0, 0, 0])
    loaded = satchel.loads(satchel.dumps(trees))
    assert loaded[0].monotonic_cst is None
    assert np.array_equal(loaded[1].monotonic_cst, trees[1].monotonic_cst)


def test_a_column_of_zero_and_negative_zero_keeps_each_sign(data: Any) -> None:
    """0.0 and -0.0 compare equal but are not one shared value: each keeps its sign."""
    trees = [DecisionTreeClassifier(max_depth=2, random_state=0).fit(*data) for _ in range(2)]
    trees[0].ccp_alpha, trees[1].ccp_alpha = 0.0, -0.0
    loaded = satchel.loads(satchel.dumps(trees))
    assert [np.copysign(1.0, t.ccp_alpha) for t in loaded] == [1.0, -1.0]


@pytest.fixture
def by_array(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Loads read arrays as they need them (as for files of 1 MiB or more) and tree nodes a
    few trees at a time; returns the indices of the arrays read as streams."""
    monkeypatch.setattr(reader, "_WHOLE_BELOW", 0)
    monkeypatch.setattr(columns, "GROUP_BYTES", 4096)
    streamed: list[int] = []
    opened = arrays.FileArrays.stream

    def stream(self: arrays.FileArrays, index: int, largest: int) -> arrays.Stream:
        streamed.append(index)
        return opened(self, index, largest)

    monkeypatch.setattr(arrays.FileArrays, "stream", stream)
    return streamed


def test_tree_nodes_read_a_group_at_a_time_load_equal(tmp_path: Path, data: Any,
                                                     by_array: list[int]) -> None:
    """A forest whose nodes and values are read through reused buffers, a few trees at a
    time, loads deeply equal: each tree copied its rows before the next group took their
    place. The file is read to its end, as a full load leaves it."""
    forest = RandomForestClassifier(n_estimators=12, max_depth=4, random_state=0).fit(*data)
    path = tmp_path / "forest.satchel"
    satchel.save(forest, path)
    with path.open("rb") as handle:
        loaded = satchel.load(handle).unwrap()
        assert handle.tell() == path.stat().st_size
    assert len(by_array) == 2
    assert_deep_equal(forest, loaded, "forest")
    np.testing.assert_array_equal(forest.predict_proba(data[0]), loaded.predict_proba(data[0]))
    node_bytes = sum(t.tree_.node_count for t in forest.estimators_) * 64
    assert node_bytes > 2 * columns.GROUP_BYTES  # so read in several groups


def test_damage_to_streamed_tree_nodes_is_an_integrity_error(tmp_path: Path, data: Any,
                                                             by_array: list[int]) -> None:
    """A changed byte in streamed nodes or values is reported as damage, even where it
    first makes a tree invalid: the rest of the array is read and its checksum decides."""
    forest = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(*data)
    original = satchel.dumps(forest)
    header = reader.Source.from_bytes(original).header()
    satchel.load(_written(tmp_path, original))
    path = None
    for index in sorted(set(by_array)):
        spec = header.arrays[index]
        start = header.data_start + spec.offset
        for position in range(start, start + spec.length, 3):
            damaged = bytearray(original)
            damaged[position] ^= 0x41
            path = _written(tmp_path, bytes(damaged))
            with pytest.raises(satchel.IntegrityError, match="does not match its checksum"):
                satchel.load(path)
    assert path is not None


def _written(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "file.satchel"
    path.write_bytes(data)
    return path
