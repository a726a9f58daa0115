"""Replaces CodeGen's exported rotary attention with ONNX Runtime's GroupQueryAttention.

The exported graph spends most of a decode step outside the weight MatMuls: about 90 small
shape, slice and rotary operators per layer, and a Concat that copies the whole past into a
fresh ``present`` tensor every step. GroupQueryAttention does the rotary embedding, the
causal attention and the KV append in one kernel, and it writes the new positions into a
preallocated cache in place when the caller binds the same buffer as past and present
("past_present_share_buffer"). A step then no longer copies the cache, and truncating it
for prefix reuse costs nothing.

The rewrite, per layer:
  * the qkv projection keeps its MatMul; its weight columns are permuted from CodeGen's
    interleaved [4 blocks x (q, v, k)] layout into the packed [q | k | v] GroupQueryAttention
    reads;
  * GroupQueryAttention(packed qkv, past, seqlens_k, total_sequence_length, cos, sin) with
    interleaved rotary (CodeGen's rotate-every-two) over the first ``rotary_dim`` dims;
  * its output feeds the out_proj MatMul; everything the old attention computed is pruned.
The graph keeps its inputs (attention_mask gives the lengths) and output names, and records
``codegend.kv_cache = shared-buffer`` in its metadata so the stepper binds it accordingly.

The rewrite works in the graph's own precision, read from the qkv weight: an fp32 graph for
the CPU, or the fp16 graph for the GPU. The fp16 optimizer keeps fp32 graph inputs and
outputs and casts the KV cache at every step; the fused graph instead takes and returns its
cache in fp16 (the Casts die with the old attention), so the shared buffer is the very
tensor the kernel reads and writes. Correctness is not assumed: the optimize stage validates
the rewritten graph against torch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from codegend.engine.errors import ArtifactError

log = logging.getLogger(__name__)

KV_CACHE_METADATA = "codegend.kv_cache"
SHARED_BUFFER = "shared-buffer"
ROTARY_BASE = 10000.0
ROTARY_COLUMN_MULTIPLE = 8
QKV_BLOCKS = 4  # CodeGen's fused projection is laid out as 4 model-parallel blocks


@dataclass(frozen=True)
class AttentionShape:
    layers: int
    heads: int
    head_dim: int
    rotary_dim: int
    max_positions: int

    @classmethod
    def from_config(cls, config) -> AttentionShape:
        head_dim = config.n_embd // config.n_head
        return cls(config.n_layer, config.n_head, head_dim, config.rotary_dim or head_dim,
                   config.n_positions)


def codegen_qkv_permutation(heads: int, head_dim: int) -> np.ndarray:
    """Column order that turns CodeGen's qkv output into packed [q | k | v].

    CodeGen reshapes the projection to (4 blocks, 3 * local) and splits each block into
    (query, value, key); block ``b`` holds heads ``b * heads/4 ...`` of each.
    """
    heads_per_block = heads // QKV_BLOCKS
    local = heads_per_block * head_dim
    order = []
    for part in (0, 2, 1):  # query, key, value within each block's (q, v, k)
        for head in range(heads):
            block, within = divmod(head, heads_per_block)
            start = block * 3 * local + part * local + within * head_dim
            order.extend(range(start, start + head_dim))
    return np.asarray(order)


def rotary_cache_width(rotary_dim: int, head_dim: int) -> int | None:
    """Columns of the cos/sin caches: ONNX Runtime wants a multiple of 8, at most head_dim/2.

    Columns beyond rotary_dim / 2 hold cos 1 and sin 0, a rotation that leaves those
    dimensions exactly as they are. None: this head size cannot be expressed.
    """
    width = -(-rotary_dim // 2 // ROTARY_COLUMN_MULTIPLE) * ROTARY_COLUMN_MULTIPLE
    return width if width <= head_dim // 2 else None


def rotary_caches(rotary_dim: int, width: int, max_positions: int) -> tuple[np.ndarray, ...]:
    """cos and sin of CodeGen's sinusoidal positions, [max_positions, width], fp32.

    Computed in float32 the way transformers computes them, so the rewrite matches torch.
    """
    exponents = np.arange(0, rotary_dim, 2, dtype=np.int64).astype(np.float32) / rotary_dim
    inverse_frequency = (1.0 / (ROTARY_BASE ** exponents)).astype(np.float32)
    angles = np.arange(max_positions, dtype=np.float32)[:, None] * inverse_frequency[None]
    cos = np.ones((max_positions, width), np.float32)
    sin = np.zeros((max_positions, width), np.float32)
    cos[:, :angles.shape[1]], sin[:, :angles.shape[1]] = np.cos(angles), np.sin(angles)
    return cos, sin


def fuse_rotary_attention(model, shape: AttentionShape) -> int:
    """Rewrite ``model`` (an onnx.ModelProto, in place); returns the layers fused.

    Returns 0 and leaves the model untouched when the graph does not have the layout the
    exporter produces for CodeGen (a future exporter may name things differently).
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    nodes = {node.name: node for node in graph.node}
    initializers = {init.name: init for init in graph.initializer}
    width = rotary_cache_width(shape.rotary_dim, shape.head_dim)
    if width is None:
        log.info("attention not fused: head size %d is too small for the fused kernel",
                 shape.head_dim)
        return 0
    anchors = []
    for layer in range(shape.layers):
        qkv = nodes.get(f"/transformer/h.{layer}/attn/qkv_proj/MatMul")
        out = nodes.get(f"/transformer/h.{layer}/attn/out_proj/MatMul")
        if qkv is None or out is None or qkv.input[1] not in initializers:
            log.info("attention not fused: layer %d does not have the exported layout", layer)
            return 0
        anchors.append((layer, qkv, out))

    # GroupQueryAttention computes in the precision of its query, the qkv MatMul's output.
    element_type = initializers[anchors[0][1].input[1]].data_type
    float_type = helper.tensor_dtype_to_np_dtype(element_type)
    permutation = codegen_qkv_permutation(shape.heads, shape.head_dim)
    cos, sin = rotary_caches(shape.rotary_dim, width, shape.max_positions)
    graph.initializer.extend([
        numpy_helper.from_array(cos.astype(float_type), "codegend/rotary_cos"),
        numpy_helper.from_array(sin.astype(float_type), "codegend/rotary_sin"),
    ])
    attention_nodes = []
    for layer, qkv, out in anchors:
        weight = initializers[qkv.input[1]]
        packed = numpy_helper.to_array(weight)[:, permutation]
        weight.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(packed), weight.name))
        attended = f"/transformer/h.{layer}/attn/GroupQueryAttention_output_0"
        attention_nodes.append(helper.make_node(
            "GroupQueryAttention",
            [qkv.output[0], "", "", f"past_key_values.{layer}.key",
             f"past_key_values.{layer}.value", "codegend/seqlens_k",
             "codegend/total_sequence_length", "codegend/rotary_cos", "codegend/rotary_sin"],
            [attended, f"present.{layer}.key", f"present.{layer}.value"],
            name=f"/transformer/h.{layer}/attn/GroupQueryAttention",
            domain="com.microsoft",
            num_heads=shape.heads,
            kv_num_heads=shape.heads,
            do_rotary=1,
            rotary_interleaved=1,
            scale=float(1.0 / np.sqrt(shape.head_dim)),
        ))
        out.input[0] = attended

    # The old attention's Concats produced the presents; GroupQueryAttention does now.
    presents = {f"present.{layer}.{kind}" for layer in range(shape.layers)
                for kind in ("key", "value")}
    candidates = [node for node in graph.node if not presents.intersection(node.output)]
    candidates += _length_nodes(graph) + attention_nodes
    ordered = _sort_topologically(_live_nodes(graph, candidates), graph)
    # Repeated protobuf fields copy on extend: rebuild the node list once, at the end.
    del graph.node[:]
    graph.node.extend(ordered)
    _drop_unused(graph)
    _set_cache_type(graph, element_type)
    if not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props},
                                   KV_CACHE_METADATA: SHARED_BUFFER})
    return len(anchors)


def _length_nodes(graph) -> list:
    """seqlens_k (tokens in the cache after this step, minus one) and the total length,
    both int32, from the attention mask [batch, past + new] the graph already takes."""
    from onnx import TensorProto, helper, numpy_helper

    # Initializers, not Constant nodes: some quantizers drop Constant nodes they do not use.
    graph.initializer.extend([
        numpy_helper.from_array(np.asarray([1], np.int64), "codegend/axis_1"),
        numpy_helper.from_array(np.asarray(1, np.int64), "codegend/one"),
    ])
    nodes = [
        helper.make_node("ReduceSum", ["attention_mask", "codegend/axis_1"],
                         ["codegend/mask_tokens"], keepdims=0),
        helper.make_node("Sub", ["codegend/mask_tokens", "codegend/one"],
                         ["codegend/seqlens_k_64"]),
        helper.make_node("Cast", ["codegend/seqlens_k_64"], ["codegend/seqlens_k"],
                         to=TensorProto.INT32),
        helper.make_node("Shape", ["attention_mask"], ["codegend/mask_length"], start=1, end=2),
        helper.make_node("Squeeze", ["codegend/mask_length"], ["codegend/total_length_64"]),
        helper.make_node("Cast", ["codegend/total_length_64"],
                         ["codegend/total_sequence_length"], to=TensorProto.INT32),
    ]
    for node in nodes:  # unique names: some tools key nodes by name
        node.name = f"codegend/{node.output[0].removeprefix('codegend/')}/{node.op_type}"
    return nodes


def _set_cache_type(graph, element_type: int) -> None:
    """The past inputs and present outputs now connect to GroupQueryAttention directly, so
    they take its precision (a no-op for an fp32 graph; fp16 instead of fp32 + Casts)."""
    for value in (*graph.input, *graph.output):
        if value.name.startswith(("past_key_values.", "present.")):
            value.type.tensor_type.elem_type = element_type


def _live_nodes(graph, nodes: list) -> list:
    """The nodes the graph outputs depend on, in their original order."""
    producer = {out: node for node in nodes for out in node.output}
    seen, live, stack = set(), set(), [out.name for out in graph.output]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        node = producer.get(name)
        if node is not None:
            live.add(id(node))
            stack.extend(i for i in node.input if i)
    return [node for node in nodes if id(node) in live]


def _drop_unused(graph) -> None:
    """Delete initializers and graph inputs no node reads any more (e.g. position_ids)."""
    used = {name for node in graph.node for name in node.input}
    for field in (graph.initializer, graph.input):
        for index in reversed(range(len(field))):
            if field[index].name not in used:
                del field[index]


def _sort_topologically(nodes: list, graph) -> list:
    """Order nodes so each comes after its inputs' producers (the new nodes were appended)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = nodes, []
    while pending:
        blocked = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                blocked.append(node)
        if len(blocked) == len(pending):
            raise ArtifactError("attention rewrite left a node whose inputs nothing produces")
        pending = blocked
    return ordered
