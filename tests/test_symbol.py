"""The Symbol API (`mx.sym`): graph building, names, attributes, inference, JSON.

Pure Python over the op registry: no device is touched. Layer ops with inputs inferred from
params (FullyConnected) or auxiliary states (BatchNorm) are stand-in OpDefs built here and
used through `symbol.create`, so the registry itself is left as it is.
"""
from __future__ import annotations

import inspect
import json
import os
import pickle

import numpy as np
import pytest

import clnet as mx
import clnet.symbol as sym
from clnet.attribute import AttrScope
from clnet.base import MXNetError, prod
from clnet.name import NameManager, Prefix
from clnet.ops import registry
from clnet.ops.registry import OpDef, Param
from clnet.symbol.symbol import create


# -- stand-in layer ops ----------------------------------------------------------------------
def _fc_inputs(p):
    return ("data", "weight") if p["no_bias"] else ("data", "weight", "bias")


def _fc_args(p, shapes):
    out = list(shapes)
    if shapes[0] is not None:
        out[1] = out[1] or (p["num_hidden"], prod(shapes[0][1:]))
        if len(out) > 2:
            out[2] = out[2] or (p["num_hidden"],)
    return out


def _fc_shape(p, shapes):
    want = (p["num_hidden"], prod(shapes[0][1:]))
    if tuple(shapes[1]) != want:
        raise MXNetError(f"FullyConnected: weight shape {shapes[1]} must be {want}")
    return [(shapes[0][0], p["num_hidden"])]


FC = OpDef("FullyConnected", inputs=_fc_inputs, infer_shape=_fc_shape, infer_args=_fc_args,
           params=(Param("num_hidden", int, low=1), Param("no_bias", bool, False)))


def _bn_args(p, shapes):
    if shapes[0] is None:
        return shapes
    return [shapes[0]] + [s or (shapes[0][1],) for s in shapes[1:]]


BN = OpDef("BatchNorm", inputs=("data", "gamma", "beta", "moving_mean", "moving_var"),
           aux=("moving_mean", "moving_var"), infer_args=_bn_args,
           params=(Param("eps", float, 1e-3),))


def fc(data=None, name=None, **kwargs):
    return create(FC, [data], kwargs, name=name)


def bn(data=None, name=None, **kwargs):
    return create(BN, [data], kwargs, name=name)


def _ops(s):
    return [n["op"] for n in json.loads(s.tojson())["nodes"]]


@pytest.fixture(autouse=True)
def fresh_names():
    with NameManager():
        yield


# -- structure -------------------------------------------------------------------------------
def test_list_arguments_outputs_order():
    a, b, d = sym.var("a"), sym.var("b"), sym.var("d")
    e = d * (a + b)
    assert e.list_arguments() == ["d", "a", "b"]
    assert e.list_outputs() == ["_mul0_output"]
    assert e.list_inputs() == ["d", "a", "b"]
    assert e.list_auxiliary_states() == []
    assert a.list_outputs() == ["a"] and a.list_arguments() == ["a"]
    net = fc(bn(sym.var("data"), name="bn1"), num_hidden=4, name="fc1")
    assert net.list_arguments() == ["data", "bn1_gamma", "bn1_beta", "fc1_weight", "fc1_bias"]
    assert net.list_auxiliary_states() == ["bn1_moving_mean", "bn1_moving_var"]
    assert net.list_inputs() == ["data", "bn1_gamma", "bn1_beta", "bn1_moving_mean",
                                 "bn1_moving_var", "fc1_weight", "fc1_bias"]
    assert fc(sym.var("x"), num_hidden=2, no_bias=True).list_arguments() == [
        "x", "fullyconnected0_weight"]


def test_auto_names_and_name_scopes():
    x, y = sym.var("x"), sym.var("y")
    assert sym.relu(x).name == "relu0" and sym.relu(x).name == "relu1"
    assert (x + y).name == "_plus0" and (x + 1).name == "_plusscalar0"
    assert (2 - x).name == "_rminusscalar0" and (x ** 2).name == "_powerscalar0"
    assert (x == y).name == "_equal0" and (x < 1).name == "_lesser_scalar0"
    assert sym.Reshape(x, shape=(2, -1)).name == "reshape0"
    assert sym.reshape(x, shape=(2, -1)).name == "reshape1"
    assert sym.sum(x, name="total").name == "total"
    assert sym.sum(axis=1, name="s").list_arguments() == ["s_data"]
    with Prefix("net_"):
        assert sym.relu(x).name == "net_relu0"
        f = fc(num_hidden=3, name="fc")
        assert f.name == "net_fc"
        assert sym.var("v").name == "v"  # variables are named as given
    assert f.list_arguments() == ["net_fc_data", "net_fc_weight", "net_fc_bias"]
    with NameManager():
        assert sym.relu(x).name == "relu0"
    assert sym.relu(x).name == "relu2"
    assert mx.name.NameManager.current.get(None, "relu") == "relu3"


def test_variable_attrs():
    class Init:
        def dumps(self):
            return '["uniform", {"scale": 0.1}]'

    v = sym.var("w", shape=(2, 3), lr_mult=2, wd_mult=0.5, dtype="float16", init=Init(),
                stype="default", __extra__="yes", attr={"mood": "calm"})
    assert v.list_attr() == {
        "__shape__": "(2, 3)", "__lr_mult__": "2", "__wd_mult__": "0.5", "__dtype__": "2",
        "__init__": '["uniform", {"scale": 0.1}]', "__storage_type__": "0",
        "__extra__": "yes", "mood": "calm", "lr_mult": "2", "wd_mult": "0.5"}
    assert v.attr("lr_mult") == v.attr("__lr_mult__") == "2"
    assert v.attr("missing") is None and v.attr("name") == "w"
    assert sym.Variable("x", init="zeros").attr("__init__") == "zeros"
    assert v.infer_shape() == ([(2, 3)], [(2, 3)], [])
    assert v.infer_type() == ([np.float16], [np.float16], [])
    with pytest.raises(ValueError, match="double underscores"):
        sym.var("x", foo=1)
    with pytest.raises(TypeError, match="string"):
        sym.var(3)
    with pytest.raises(MXNetError, match="stype 'dense'"):
        sym.var("x", stype="dense")
    with pytest.raises(ValueError, match="strings"):
        sym.var("x", attr={"k": 1})


def test_attr_scope_and_set_attr():
    with AttrScope(ctx_group="dev1", __mood__="calm"):
        x = sym.var("x")
        with mx.attribute.AttrScope(ctx_group="dev2"):
            r = sym.relu(x)
        s = sym.sum(axis=1, name="s")
    assert x.attr("ctx_group") == "dev1" and x.attr("__mood__") == "calm"
    assert r.list_attr() == {"__ctx_group__": "dev2", "ctx_group": "dev2", "__mood__": "calm"}
    assert sym.var("y").list_attr() == {}
    # an auto-created input gets a copy of its node's attributes, as in MXNet
    assert s.attr_dict() == {
        "s_data": {"axis": "1", "__ctx_group__": "dev1", "ctx_group": "dev1",
                   "__mood__": "calm"},
        "s": {"axis": "1", "__ctx_group__": "dev1", "ctx_group": "dev1", "__mood__": "calm"}}
    with pytest.raises(ValueError, match="must be a string"):
        AttrScope(group=1)
    t = sym.sum(sym.var("x"), axis=1)
    t._set_attr(axis="0", lr_mult="3")
    assert t.attr("__lr_mult__") == "3"
    assert t.infer_shape(x=(2, 3))[1] == [(3,)]
    with pytest.raises(ValueError, match="strings"):
        t._set_attr(axis=0)
    with pytest.raises(MXNetError, match="group"):
        sym.Group([t, x])._set_attr(__a__="1")
    with pytest.raises(MXNetError, match="weight_lr_mult"):
        sym.relu(x, weight_lr_mult=2)


def test_group_and_indexing():
    x = sym.var("x")
    s = sym.split(x, num_outputs=3, axis=1)
    assert len(s) == 3 and s.name == "split0"
    assert s.list_outputs() == ["split0_output0", "split0_output1", "split0_output2"]
    assert s[1].list_outputs() == ["split0_output1"]
    assert s["split0_output2"].list_outputs() == ["split0_output2"]
    assert s[-1].list_outputs() == ["split0_output2"]
    assert s[1:].list_outputs() == ["split0_output1", "split0_output2"]
    assert [o.list_outputs()[0] for o in s] == s.list_outputs()
    with pytest.raises(IndexError):
        s[3]
    with pytest.raises(ValueError, match="nope"):
        s["nope"]
    g = sym.Group([x, s[0], sym.relu(s[2])])
    assert g.name is None and len(g) == 3
    assert g.list_outputs() == ["x", "split0_output0", "relu0_output"]
    assert repr(g) == "<Symbol group [x, split0, relu0]>" and repr(x) == "<Symbol x>"
    assert g.infer_shape(x=(2, 6))[1] == [(2, 6), (2, 2), (2, 2)]
    with pytest.raises(MXNetError, match="group of 3 outputs"):
        sym.relu(s)
    with pytest.raises(TypeError):
        sym.Group([])
    with pytest.raises(TypeError):
        sym.Group([x, 1])


def test_get_internals_and_children():
    x, y = sym.var("x"), sym.var("y")
    out = fc(sym.relu(x) + y, num_hidden=2, name="fc1")
    internals = out.get_internals()
    assert internals.list_outputs() == ["x", "relu0_output", "y", "_plus0_output",
                                        "fc1_weight", "fc1_bias", "fc1_output"]
    assert internals["relu0_output"].list_arguments() == ["x"]
    assert out.get_children().list_outputs() == ["_plus0_output", "fc1_weight", "fc1_bias"]
    assert out.get_children().get_children().list_outputs() == ["relu0_output", "y"]
    assert x.get_children() is None


# -- inference -------------------------------------------------------------------------------
def test_infer_shape_full():
    data = sym.var("data")
    net = fc(sym.relu(fc(data, num_hidden=8, name="fc1")), num_hidden=3, name="fc2")
    arg, out, aux = net.infer_shape(data=(4, 2, 5))
    assert dict(zip(net.list_arguments(), arg)) == {
        "data": (4, 2, 5), "fc1_weight": (8, 10), "fc1_bias": (8,),
        "fc2_weight": (3, 8), "fc2_bias": (3,)}
    assert out == [(4, 3)] and aux == []
    assert net.infer_shape((4, 10))[1] == [(4, 3)]  # positional, list_arguments order
    net2 = bn(data, name="bn")
    assert net2.infer_shape(data=(2, 3, 4)) == (
        [(2, 3, 4), (3,), (3,)], [(2, 3, 4)], [(3,), (3,)])
    # a variable filled by a later node reaches its earlier user
    w = sym.var("w")
    g = sym.Group([sym.relu(w), fc(data, weight=w, num_hidden=5, no_bias=True)])
    assert g.infer_shape(data=(2, 3))[1] == [(5, 3), (2, 5)]
    # a variable's __shape__ attribute is used unless the caller gives one
    x = sym.var("x", shape=(3, 4))
    assert sym.sum(x, axis=0).infer_shape()[1] == [(4,)]
    assert sym.sum(x, axis=0).infer_shape(x=(5, 6))[1] == [(6,)]


def test_infer_shape_partial_and_unknown():
    x, y = sym.var("x"), sym.var("y")
    z = x + y
    # an unknown operand of an elementwise op takes the other's shape, as in MXNet
    assert z.infer_shape(x=(2, 3)) == ([(2, 3), (2, 3)], [(2, 3)], [])
    w = sym.dot(x, y)
    assert w.infer_shape_partial(x=(2, 3)) == ([(2, 3), ()], [()], [])
    with pytest.warns(UserWarning, match="y: ()"):
        assert w.infer_shape(x=(2, 3)) == (None, None, None)
    net = fc(sym.var("data"), num_hidden=4, name="fc1")
    # a 0 dim is unknown: the given shape is kept, the rest is unknown
    assert net.infer_shape_partial(data=(0, 5)) == ([(0, 5), (), ()], [()], [])
    with pytest.warns(UserWarning, match="0s in shape"):
        assert net.infer_shape(data=(0, 5)) == (None, None, None)
    # a partly known weight is completed by inference
    assert net.infer_shape(data=(2, 5), fc1_weight=(0, 5))[0][1] == (4, 5)
    with pytest.raises(MXNetError, match="not inputs of this symbol.*candidates"):
        net.infer_shape(dat=(2, 5))
    with pytest.raises(TypeError, match="tuple"):
        net.infer_shape(data=5)
    with pytest.raises(ValueError, match="not both"):
        net.infer_shape((2, 5), fc1_weight=(4, 5))


def test_infer_shape_conflicts_name_node_and_shapes():
    x, y = sym.var("x"), sym.var("y")
    with pytest.raises(MXNetError, match=r"_plus0.*lhs=\(2, 3\), rhs=\(4, 3\)"):
        (x + y).infer_shape(x=(2, 3), y=(4, 3))
    net = fc(sym.var("data"), num_hidden=4, name="fc1")
    with pytest.raises(MXNetError, match=r"fc1 \(FullyConnected\).*weight=\(5, 5\).*must be"):
        net.infer_shape(data=(2, 5), fc1_weight=(5, 5))
    with pytest.raises(MXNetError, match=r"fc1.*'weight'.*\(0, 6\).*\(4, 5\)"):
        net.infer_shape(data=(2, 5), fc1_weight=(0, 6))
    with pytest.raises(MXNetError, match=r"reshape0.*data=\(2, 3\)"):
        sym.reshape(x, shape=(4, 4)).infer_shape(x=(2, 3))


def test_infer_type():
    a, b = sym.var("a"), sym.var("b")
    c = a + b * 2
    assert c.infer_type(a="float64") == ([np.float64, np.float64], [np.float64], [])
    assert c.infer_type(np.int32, None) == ([np.int32, np.int32], [np.int32], [])
    t = sym.topk(sym.Cast(a, dtype="float16"), k=2, ret_typ="both", dtype="int32")
    assert t.infer_type(a="float32") == ([np.float32], [np.float16, np.int32], [])
    with pytest.warns(UserWarning, match="a: None"):
        assert t.infer_type() == (None, None, None)
    assert t.infer_type_partial() == ([None], [None, None], [])
    assert sym.var("x", dtype=np.uint8).infer_type()[1] == [np.uint8]
    net = bn(fc(a, num_hidden=2), name="bn")
    arg, out, aux = net.infer_type(a="float64")
    assert set(arg) == {np.float64} and len(arg) == 5 and aux == [np.float64] * 2
    with pytest.raises(MXNetError, match=r"hypot0 \(broadcast_hypot\).*lhs=int32.*accepted"):
        sym.hypot(a, b).infer_type(a="int32")


# -- JSON ------------------------------------------------------------------------------------
def _sample_graph():
    x = sym.var("x", shape=(3, 2), lr_mult=0.5)
    y = sym.var("y", dtype="float64")
    parts = sym.split(x, num_outputs=2, axis=1, squeeze_axis=True)
    s = sym.sum(parts[1] * 0.5, axis=None, keepdims=True, name="total")
    r = sym.Reshape(sym.concat(parts[0], y, dim=0), shape=(2, -1))
    return sym.Group([s, r, parts[0]])


def test_json_round_trip(tmp_path):
    g = _sample_graph()
    text = g.tojson()
    data = json.loads(text)
    assert data["attrs"] == {"mxnet_version": ["int", 10901]}
    assert [n["op"] for n in data["nodes"]] == [
        "null", "SliceChannel", "_mul_scalar", "sum", "null", "concat", "Reshape"]
    assert data["nodes"][1]["attrs"] == {"axis": "1", "num_outputs": "2",
                                         "squeeze_axis": "True"}
    assert data["nodes"][2]["attrs"] == {"scalar": "0.5"}
    assert data["nodes"][3]["attrs"] == {"axis": "None", "keepdims": "True"}
    assert data["nodes"][5]["attrs"] == {"dim": "0", "num_args": "2"}
    assert data["nodes"][6]["attrs"] == {"shape": "(2, -1)"}
    assert data["nodes"][0]["attrs"] == {"__lr_mult__": "0.5", "__shape__": "(3, 2)"}
    assert data["nodes"][5]["inputs"] == [[1, 0, 0], [4, 0, 0]]
    assert data["arg_nodes"] == [0, 4]
    assert data["node_row_ptr"] == [0, 1, 3, 4, 5, 6, 7, 8]
    assert data["heads"] == [[3, 0, 0], [6, 0, 0], [1, 0, 0]]
    back = sym.load_json(text)
    assert back.tojson() == text
    assert back.list_arguments() == g.list_arguments() == ["x", "y"]
    assert back.list_outputs() == g.list_outputs()
    assert back.infer_shape(y=(3,)) == g.infer_shape(y=(3,)) == (
        [(3, 2), (3,)], [(1,), (2, 3), (3,)], [])
    assert back.infer_type()[1] == [np.float64, np.float64, np.float64]
    path = tmp_path / "net-symbol.json"
    g.save(str(path))
    assert sym.load(str(path)).tojson() == text
    assert os.listdir(tmp_path) == ["net-symbol.json"]
    assert pickle.loads(pickle.dumps(g)).tojson() == text


LEGACY_JSON = """{
  "nodes": [
    {"op": "null", "param": {}, "name": "data", "inputs": [], "backward_source_id": -1,
     "attr": {"ctx_group": "stage1", "__shape__": "(2, 3)"}},
    {"op": "Flatten", "param": {}, "name": "flat", "inputs": [[0, 0]],
     "backward_source_id": -1},
    {"op": "_plus", "param": {}, "name": "plus", "inputs": [[1, 0]],
     "attr": {"rhs_lr_mult": "0.2"}, "backward_source_id": -1},
    {"op": "sum_axis", "param": {"axis": "(1,)", "keepdims": "False"}, "name": "s",
     "inputs": [[2, 0]], "backward_source_id": -1}
  ],
  "arg_nodes": [0],
  "heads": [[3, 0]]
}"""


def test_load_legacy_json():
    s = sym.load_json(LEGACY_JSON)
    # before 0.9 an op's missing inputs are variables named <node>_<input>
    assert s.list_arguments() == ["data", "plus_rhs"]
    assert s.attr_dict()["data"] == {"__ctx_group__": "stage1", "ctx_group": "stage1",
                                     "__shape__": "(2, 3)"}
    assert s.get_internals()["plus_rhs"].attr("lr_mult") == "0.2"
    assert s.infer_shape(plus_rhs=(2, 3)) == ([(2, 3), (2, 3)], [(2,)], [])
    assert _ops(s) == ["null", "Flatten", "null", "broadcast_add", "sum"]
    again = sym.load_json(s.tojson())
    assert again.tojson() == s.tojson()


def test_load_errors(tmp_path):
    bad_op = LEGACY_JSON.replace('"Flatten"', '"NoSuchOp"')
    with pytest.raises(MXNetError, match="'flat'.*'NoSuchOp' is not registered"):
        sym.load_json(bad_op)
    bad_param = LEGACY_JSON.replace('"keepdims": "False"', '"keepdims": "maybe"')
    with pytest.raises(MXNetError, match="node 's'.*keepdims"):
        sym.load_json(bad_param)
    unknown_param = LEGACY_JSON.replace('"keepdims": "False"', '"workspace": "512"')
    with pytest.raises(MXNetError, match="unknown argument.*workspace"):
        sym.load_json(unknown_param)
    with pytest.raises(MXNetError, match="not valid JSON"):
        sym.load_json("{nodes")
    with pytest.raises(MXNetError, match="'nodes' and 'heads'"):
        sym.load_json("[]")
    with pytest.raises(MXNetError, match="names node 7"):
        sym.load_json(LEGACY_JSON.replace("[[2, 0]]", "[[7, 0]]"))
    with pytest.raises(MXNetError, match="output 1 of node 'plus'"):
        sym.load_json(LEGACY_JSON.replace("[[2, 0]]", "[[2, 1]]"))
    with pytest.raises(TypeError):
        sym.load_json(b"{}")
    path = tmp_path / "bad.json"
    path.write_text(bad_op)
    with pytest.raises(MXNetError, match="bad.json.*NoSuchOp"):
        sym.load(str(path))


# -- op functions ----------------------------------------------------------------------------
def test_bad_params_and_inputs():
    x = sym.var("x")
    with pytest.raises(MXNetError, match=r"sum: unknown argument\(s\) \['foo'\]"):
        sym.sum(x, foo=1)
    with pytest.raises(MXNetError, match="clip: required argument 'a_max'"):
        sym.clip(x, a_min=0)
    with pytest.raises(MXNetError, match="num_outputs=0 must be >= 1"):
        sym.split(x, num_outputs=0)
    with pytest.raises(MXNetError, match="keepdims='perhaps' is not a valid bool"):
        sym.sum(x, keepdims="perhaps")
    with pytest.raises(MXNetError, match=r"\['weight'\] are not inputs.*\['data'\]"):
        sym.relu(x, weight=sym.var("w"))
    with pytest.raises(MXNetError, match="given twice"):
        sym.relu(x, data=x)
    with pytest.raises(MXNetError, match="too many positional"):
        sym.relu(x, 1)
    with pytest.raises(MXNetError, match="positionally"):
        sym.concat(x, y=x)
    with pytest.raises(MXNetError, match=r"where: unknown argument\(s\) \['y'\]"):
        sym.where(x, x, y=1)
    with pytest.raises(TypeError, match="must be a Symbol"):
        create("relu", [1], {})
    # positional params follow the inputs in declaration order
    assert sym.clip(x, 0, 1).list_attr() == {"a_min": "0", "a_max": "1"}
    assert sym.broadcast_add(lhs=x, rhs=sym.var("y")).list_arguments() == ["x", "y"]
    assert sym.broadcast_add(lhs=x, rhs=None, name="b").list_arguments() == ["x", "b_rhs"]


def test_every_registry_op_in_both_namespaces():
    names = {op.name for op in registry.all_ops().values()}
    assert {"broadcast_add", "sum", "Reshape", "concat"} <= names
    for name in sorted(names):
        if not name.startswith("_backward"):  # gradient internals, registered when needed
            assert callable(getattr(mx.nd, name, None)), f"mx.nd.{name} is missing"
        assert callable(getattr(sym, name, None)), f"mx.sym.{name} is missing"
    for name in registry.all_ops():
        assert callable(getattr(sym, name, None)), f"mx.sym.{name} (alias) is missing"
    assert "axis" in sym.sum.__doc__ and sym.sum.__name__ == "sum"
    assert str(inspect.signature(sym.sum)) == (
        "(data=None, *, axis=None, keepdims=False, exclude=False, name=None, attr=None, "
        "**kwargs)")
    assert str(inspect.signature(sym.concat)).startswith("(*args, dim=1")


def test_op_registered_after_import_is_reachable():
    op = registry.register(OpDef("_test_symbol_late", doc="A late op."))
    try:
        s = sym._test_symbol_late(sym.var("x"))
        assert s.name == "_test_symbol_late0" and s.infer_shape(x=(2,))[1] == [(2,)]
    finally:
        registry._REGISTRY.pop(op.name)
        vars(sym).pop(op.name, None)
    with pytest.raises(AttributeError, match="no_such_op"):
        sym.no_such_op


def test_random_namespace():
    x = sym.var("x")
    u = sym.random.uniform(0, 2, shape=(2, 3))
    assert _ops(u) == ["_random_uniform"] and u.list_arguments() == []
    assert u.list_attr() == {"low": "0", "high": "2", "shape": "(2, 3)"}
    assert u.infer_shape() == ([], [(2, 3)], []) and u.infer_type()[1] == [np.float32]
    n = sym.random.normal(x, x * 2, shape=(4,), dtype="float64")
    assert _ops(n)[-1] == "_sample_normal"
    assert n.infer_shape(x=(2,))[1] == [(2, 4)] and n.infer_type(x="float64")[1] == [
        np.float64]
    assert sym.random.exponential(2, shape=(3,)).list_attr()["lam"] == "0.5"
    assert sym.random.randint(0, 5, shape=(2,)).infer_type()[1] == [np.int32]
    assert _ops(sym.random.shuffle(x)) == ["null", "_shuffle"]
    with pytest.raises(MXNetError, match="all numbers or all Symbols"):
        sym.random.uniform(x, 1)
    with pytest.raises(MXNetError, match="scale=0 must be > 0"):
        sym.random.exponential(0)


def test_python_operators():
    x, y = sym.var("x"), sym.var("y")
    cases = [(x + y, "broadcast_add"), (x - y, "broadcast_sub"), (x * y, "broadcast_mul"),
             (x / y, "broadcast_div"), (x % y, "broadcast_mod"), (x ** y, "broadcast_power"),
             (x == y, "broadcast_equal"), (x != y, "broadcast_not_equal"),
             (x > y, "broadcast_greater"), (x >= y, "broadcast_greater_equal"),
             (x < y, "broadcast_lesser"), (x <= y, "broadcast_lesser_equal"),
             (x + 1, "_plus_scalar"), (1 + x, "_plus_scalar"), (x - 1, "_minus_scalar"),
             (1 - x, "_rminus_scalar"), (x * 2, "_mul_scalar"), (2 * x, "_mul_scalar"),
             (x / 2, "_div_scalar"), (2 / x, "_rdiv_scalar"), (x % 2, "_mod_scalar"),
             (2 % x, "_rmod_scalar"), (x ** 2, "_power_scalar"), (2 ** x, "_rpower_scalar"),
             (x == 1, "_equal_scalar"), (x != 1, "_not_equal_scalar"),
             (x > 1, "_greater_scalar"), (x >= 1, "_greater_equal_scalar"),
             (x < 1, "_lesser_scalar"), (x <= 1, "_lesser_equal_scalar"),
             (np.float32(2) * x, "_mul_scalar"), (-x, "negative"), (abs(x), "abs"),
             (sym.maximum(x, 1), "_maximum_scalar"), (sym.minimum(2, x), "_minimum_scalar"),
             (sym.maximum(x, y), "broadcast_maximum"), (sym.pow(2, x), "_rpower_scalar"),
             (sym.power(x, y), "broadcast_power"), (x.astype("int32"), "Cast")]
    for s, op in cases:
        assert _ops(s)[-1] == op, (s, op)
    assert json.loads((x / 2).tojson())["nodes"][1]["attrs"] == {"scalar": "2"}
    assert sym.maximum(2, 3) == 3 and sym.pow(2, 3) == 8
    with pytest.raises(TypeError):
        x + "a"
    with pytest.raises(MXNetError, match="truth value"):
        bool(x)
    with pytest.raises(TypeError):
        hash(x)


def test_fluent_methods_copy_and_compose():
    x = sym.var("x")
    s = x.sum(axis=1).reshape(shape=(1, -1))
    assert _ops(s) == ["null", "sum", "Reshape"]
    assert s.infer_shape(x=(2, 3))[1] == [(1, 2)]
    r = sym.relu(x)
    c = r.__copy__()
    c._set_attr(__note__="copy")
    assert r.attr("__note__") is None and c.attr("__note__") == "copy"
    y = sym.var("y")
    composed = r(x=y * 2, name="composed")
    assert composed.name == "composed" and composed.list_arguments() == ["y"]
    assert r.name == "relu0" and r.list_arguments() == ["x"]
    assert r(sym.var("z")).list_arguments() == ["z"]
    with pytest.raises(MXNetError, match="not inputs"):
        r(q=y)
    assert "Op:relu, Name=relu0" in r.debug_str()
