"""Register-blocked integer matrix product for the int8 kernel: int16 activations x int8 weights.

Each call advances ``STREAMS`` streams (or one, past the last whole group) over 16-output blocks.
The weights of a matrix are packed (:func:`pack_pairs`) so that, for each pair of inputs
``(2k, 2k+1)``, one 64-byte row holds the 16 outputs' two weights interleaved; the activations are
read as int32 pairs and broadcast. One multiply-add of pairs (``vpmaddwd``, ``vpdpwssd`` with VNNI,
``smlal`` pairs on NEON) then does 32 multiply-accumulates for 16 outputs, and every accumulator
stays in a register for the whole reduction: no horizontal sums, no stores inside the loop.

The code is written as generic LLVM vector IR (shuffles, sign extensions, multiplies, adds) that
every backend lowers to its own instructions, so the same kernel runs on x86 and aarch64.

The float32 kernel of ``numba-f32`` (:func:`float_matmul_acc`) is the same register blocking over
weights packed as rows of 16 outputs (:func:`pack_rows`), one ``llvm.fmuladd`` per stream, block
and input (a fused multiply-add where the target has one).
"""

from __future__ import annotations

import platform

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: outputs per block: one 512-bit vector of int32 accumulators
BLOCK = 16
#: streams per micro-kernel call (rows of the activation tile read together)
STREAMS = 4
_I16, _I32, _I64 = ir.IntType(16), ir.IntType(32), ir.IntType(64)
_EVEN = ir.Constant(ir.VectorType(_I32, BLOCK), [2 * i for i in range(BLOCK)])
_ODD = ir.Constant(ir.VectorType(_I32, BLOCK), [2 * i + 1 for i in range(BLOCK)])


def pack_pairs(w: np.ndarray) -> np.ndarray:
    """Pack int8 ``(outputs, inputs)`` weights for the micro-kernel, zero-padded.

    Result: int16 ``(ceil(outputs/16), ceil(inputs/2), 16, 2)`` flattened, where
    ``[b, k, j, t] = w[16 b + j, 2 k + t]``: a whole number of 64-byte rows, so parts packed one
    after another in a 64-byte aligned buffer (:func:`aligned`) keep every row in one cache line.

    >>> pack_pairs(np.arange(6, dtype=np.int8).reshape(2, 3)).reshape(1, 2, 16, 2)[0, :, :2].tolist()
    [[[0, 1], [3, 4]], [[2, 0], [5, 0]]]
    """
    n, k = w.shape
    nb, k2 = -(-n // BLOCK), -(-k // 2)
    padded = np.zeros((nb * BLOCK, 2 * k2), np.int16)
    padded[:n, :k] = w
    return np.ascontiguousarray(padded.reshape(nb, BLOCK, k2, 2).transpose(0, 2, 1, 3)).ravel()


def aligned(parts: list[np.ndarray], dtype=np.int16, alignment: int = 64) -> np.ndarray:
    """``np.concatenate(parts)`` in a buffer whose first element is ``alignment``-byte aligned."""
    total = sum(p.size for p in parts)
    itemsize = np.dtype(dtype).itemsize
    raw = np.empty(total + alignment // itemsize, dtype)
    start = (-raw.ctypes.data % alignment) // itemsize
    out = raw[start : start + total]
    if parts:
        np.concatenate(parts, out=out)
    return out


def _row_pointer(context, builder, arrty, arr, row, col, elem):
    """Pointer to ``arr[row, col]`` of a C-contiguous 2-D array, cast to ``elem*``."""
    a = context.make_array(arrty)(context, builder, arr)
    ncols = builder.extract_value(a.shape, 1)
    index = builder.add(builder.mul(row, ncols), col)
    return builder.bitcast(builder.gep(a.data, [index]), elem.as_pointer())


def _features(context) -> set[str]:
    """The code generator's target features (``avx512bw``, ``avx2``, ...), empty when unknown."""
    try:
        text = context.codegen()._tm_features
    except AttributeError:  # a Numba without this private attribute: the generic IR still works
        return set()
    return {f[1:] for f in text.split(",") if f.startswith("+")}


def int8_path(features: set[str] | None = None, machine: str | None = None) -> str:
    """Which instructions the int8 micro-kernel's multiply-adds compile to on this CPU (``features``: the code
    generator's, by default Numba's for this machine; ``machine``: ``platform.machine()``), as ``edge-lstm bench``
    reports it. On aarch64, NEON's ``smlal``/``smlal2`` (checked in the assembly under emulation:
    tests/runtime/test_aarch64.py); ``sdot`` multiplies int8 by int8, and the activations are int16.

    >>> int8_path({"avx512bw", "avx512vnni"}), int8_path({"avx2"}), int8_path(set(), "x86_64")
    ('avx512bw vpmaddwd, fused into vpdpwssd (avx512vnni)', 'avx2 vpmaddwd', 'generic widening multiply-adds')
    >>> int8_path(set(), "aarch64")
    'NEON widening multiply-adds (smlal, smlal2)'
    """
    if features is None:
        from numba.core.registry import cpu_target

        features = _features(cpu_target.target_context)
    if "avx512bw" in features:
        fused = ", fused into vpdpwssd (avx512vnni)" if "avx512vnni" in features else ""
        return f"avx512bw vpmaddwd{fused}"
    if "avx2" in features:
        return "avx2 vpmaddwd"
    if "neon" in features or (machine or platform.machine()) in ("aarch64", "arm64"):
        return "NEON widening multiply-adds (smlal, smlal2)"
    return "generic widening multiply-adds"


def target_features() -> list[str]:
    """The vector features Numba's code generator targets on this CPU (what the kernels are compiled for)."""
    from numba.core.registry import cpu_target

    wanted = ("avx", "fma", "vnni", "amx", "neon", "dotprod", "sve", "i8mm")
    return sorted(f for f in _features(cpu_target.target_context) if f.startswith(wanted) or
                  any(w in f for w in ("vnni", "dotprod", "i8mm")))


def _pmadd(builder, x, w, features):
    """16 int32 = x[2j] * w[2j] + x[2j+1] * w[2j+1], from two <32 x i16> vectors.

    x86 gets ``pmaddwd`` by name (LLVM folds the accumulating add into ``vpdpwssd`` where VNNI is
    there); elsewhere generic shuffles, sign extensions and multiplies, which LLVM maps to the
    target's widening multiply-adds. (The generic form is not matched to ``pmaddwd`` on x86 once
    the broadcast operand is simplified, measured: it became ``vpmulld``.)
    """
    wide = ir.VectorType(_I32, BLOCK)
    module = builder.module
    if "avx512bw" in features:
        fn = cgutils.get_or_insert_function(module, ir.FunctionType(wide, [x.type, w.type]),
                                            "llvm.x86.avx512.pmaddw.d.512")
        return builder.call(fn, [x, w])
    if "avx2" in features:
        half_in, half_out = ir.VectorType(_I16, BLOCK), ir.VectorType(_I32, BLOCK // 2)
        fn = cgutils.get_or_insert_function(module, ir.FunctionType(half_out, [half_in, half_in]),
                                            "llvm.x86.avx2.pmadd.wd")
        lo = ir.Constant(ir.VectorType(_I32, BLOCK), list(range(BLOCK)))
        hi = ir.Constant(ir.VectorType(_I32, BLOCK), list(range(BLOCK, 2 * BLOCK)))
        parts = [builder.call(fn, [builder.shuffle_vector(x, x, m), builder.shuffle_vector(w, w, m)]) for m in (lo, hi)]
        return builder.shuffle_vector(parts[0], parts[1], ir.Constant(wide, list(range(BLOCK))))
    xe = builder.sext(builder.shuffle_vector(x, x, _EVEN), wide)
    xo = builder.sext(builder.shuffle_vector(x, x, _ODD), wide)
    we = builder.sext(builder.shuffle_vector(w, w, _EVEN), wide)
    wo = builder.sext(builder.shuffle_vector(w, w, _ODD), wide)
    return builder.add(builder.mul(xe, we), builder.mul(xo, wo))


def _int_codegen(blocks: int, streams: int = STREAMS):
    """Code for ``streams`` streams x ``blocks`` blocks of 16 int32 outputs (overwritten), int16 pairs in."""

    def codegen(context, builder, signature, args):
        acc_t, _, q_t, _, _, wp_t, _, _ = signature.args
        acc_a, acc_col_v, q_a, q_col_v, s0_v, wp_a, w_off_v, k2n_v = args
        pair = ir.VectorType(_I16, 2 * BLOCK)
        features = _features(context)
        wide = ir.VectorType(_I32, BLOCK)
        slots = [[cgutils.alloca_once_value(builder, ir.Constant(wide, None)) for _ in range(blocks)]
                 for _ in range(streams)]
        qptr = [_row_pointer(context, builder, q_t, q_a, builder.add(s0_v, ir.Constant(_I64, s)), q_col_v, _I32)
                for s in range(streams)]  # the pair (2k, 2k+1) is int32 element k
        w_data = context.make_array(wp_t)(context, builder, wp_a).data
        block_size = builder.mul(k2n_v, ir.Constant(_I64, 2 * BLOCK))
        wbase = [builder.bitcast(builder.gep(w_data, [builder.add(w_off_v, builder.mul(block_size,
                                                                                       ir.Constant(_I64, b)))]),
                                 pair.as_pointer()) for b in range(blocks)]
        with cgutils.for_range(builder, k2n_v) as loop:
            k = loop.index
            wv = [builder.load(builder.gep(wbase[b], [k]), align=2) for b in range(blocks)]
            for s in range(streams):
                xi = builder.load(builder.gep(qptr[s], [k]), align=4)
                xs = builder.insert_element(ir.Constant(wide, None), xi, ir.Constant(_I32, 0))
                xs = builder.shuffle_vector(xs, xs, ir.Constant(wide, [0] * BLOCK))
                xv = builder.bitcast(xs, pair)
                for b in range(blocks):
                    slot = slots[s][b]
                    builder.store(builder.add(builder.load(slot), _pmadd(builder, xv, wv[b], features)), slot)
        for s in range(streams):
            row = builder.add(s0_v, ir.Constant(_I64, s))
            for b in range(blocks):
                col = builder.add(acc_col_v, ir.Constant(_I64, b * BLOCK))
                out = builder.bitcast(_row_pointer(context, builder, acc_t, acc_a, row, col, _I32),
                                      wide.as_pointer())
                builder.store(builder.load(slots[s][b]), out, align=4)
        return context.get_dummy_value()

    return codegen


def pack_rows(w: np.ndarray) -> np.ndarray:
    """Pack float ``(inputs, outputs)`` weights (row k = input k's weights) for :func:`float_matmul_acc`.

    Result: float32 ``(ceil(outputs/16), inputs, 16)`` flattened, zero-padded: ``[b, k, j] = w[k, 16 b + j]``.

    >>> pack_rows(np.arange(6, dtype=np.float32).reshape(2, 3)).reshape(1, 2, 16)[0, :, :4].tolist()
    [[0.0, 1.0, 2.0, 0.0], [3.0, 4.0, 5.0, 0.0]]
    """
    k, n = w.shape
    nb = -(-n // BLOCK)
    padded = np.zeros((k, nb * BLOCK), np.float32)
    padded[:, :n] = w
    return np.ascontiguousarray(padded.reshape(k, nb, BLOCK).transpose(1, 0, 2)).ravel()


def _float_codegen(blocks: int, streams: int = STREAMS):
    """Code adding ``streams`` streams x ``blocks`` blocks of 16 float outputs' products to ``out``."""

    def codegen(context, builder, signature, args):
        out_t, _, x_t, _, _, wp_t, _, _ = signature.args
        out_a, out_col_v, x_a, x_col_v, s0_v, wp_a, w_off_v, kn_v = args
        f32 = ir.FloatType()
        vec = ir.VectorType(f32, BLOCK)
        fmuladd = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec, vec, vec]),
                                                 "llvm.fmuladd.v16f32")  # fused where the target can
        rows = [builder.add(s0_v, ir.Constant(_I64, s)) for s in range(streams)]
        outp = [[builder.bitcast(_row_pointer(context, builder, out_t, out_a, rows[s],
                                              builder.add(out_col_v, ir.Constant(_I64, b * BLOCK)), f32),
                                 vec.as_pointer()) for b in range(blocks)] for s in range(streams)]
        slots = [[cgutils.alloca_once_value(builder, builder.load(outp[s][b], align=4)) for b in range(blocks)]
                 for s in range(streams)]
        xptr = [_row_pointer(context, builder, x_t, x_a, rows[s], x_col_v, f32) for s in range(streams)]
        w_data = context.make_array(wp_t)(context, builder, wp_a).data
        block_size = builder.mul(kn_v, ir.Constant(_I64, BLOCK))
        wbase = [builder.bitcast(builder.gep(w_data, [builder.add(w_off_v, builder.mul(block_size,
                                                                                       ir.Constant(_I64, b)))]),
                                 vec.as_pointer()) for b in range(blocks)]
        with cgutils.for_range(builder, kn_v) as loop:
            k = loop.index
            wv = [builder.load(builder.gep(wbase[b], [k]), align=4) for b in range(blocks)]
            for s in range(streams):
                xk = builder.load(builder.gep(xptr[s], [k]), align=4)
                xs = builder.insert_element(ir.Constant(vec, None), xk, ir.Constant(_I32, 0))
                xs = builder.shuffle_vector(xs, xs, ir.Constant(ir.VectorType(_I32, BLOCK), [0] * BLOCK))
                for b in range(blocks):
                    slot = slots[s][b]
                    builder.store(builder.call(fmuladd, [xs, wv[b], builder.load(slot)]), slot)
        for s in range(streams):
            for b in range(blocks):
                builder.store(builder.load(slots[s][b]), outp[s][b], align=4)
        return context.get_dummy_value()

    return codegen


def _make_tile(blocks: int, streams: int = STREAMS):
    """An intrinsic for ``streams`` streams x ``blocks`` blocks of 16 outputs: the int16-pair product
    (overwriting int32 ``out``) or the float32 one (adding to ``out``), by the input's dtype."""
    int_code, float_code = _int_codegen(blocks, streams), _float_codegen(blocks, streams)

    @intrinsic
    def tile(typingctx, out, out_col, x, x_col, s0, wp, w_off, kn):
        sig = types.void(out, out_col, x, x_col, s0, wp, w_off, kn)
        return sig, float_code if x.dtype == types.float32 else int_code

    return tile


_tile4, _tile2, _tile1 = _make_tile(4), _make_tile(2), _make_tile(1)
# one stream at a time, for the streams past the last whole group (a lone stream computes no padding lanes)
_one4, _one2, _one1 = _make_tile(4, 1), _make_tile(2, 1), _make_tile(1, 1)


@njit(_nrt=False, cache=True, error_model="numpy")
def _blocked(out, out_col, x, x_col, ts, wp, w_off, kn, nblocks, row):
    """Every block of 16 outputs, in groups of 4, 2 and 1, for every group of STREAMS streams and then each
    remaining stream alone; ``row``: packed weight elements per input step and block. Blocks outermost: one
    group's weights stay in L1 while every stream group reads them."""
    step = kn * row
    whole = ts - ts % STREAMS
    b = 0
    while b + 4 <= nblocks:
        for s0 in range(0, whole, STREAMS):
            _tile4(out, out_col + b * BLOCK, x, x_col, s0, wp, w_off + b * step, kn)
        for s0 in range(whole, ts):
            _one4(out, out_col + b * BLOCK, x, x_col, s0, wp, w_off + b * step, kn)
        b += 4
    if b + 2 <= nblocks:
        for s0 in range(0, whole, STREAMS):
            _tile2(out, out_col + b * BLOCK, x, x_col, s0, wp, w_off + b * step, kn)
        for s0 in range(whole, ts):
            _one2(out, out_col + b * BLOCK, x, x_col, s0, wp, w_off + b * step, kn)
        b += 2
    if b < nblocks:
        for s0 in range(0, whole, STREAMS):
            _tile1(out, out_col + b * BLOCK, x, x_col, s0, wp, w_off + b * step, kn)
        for s0 in range(whole, ts):
            _one1(out, out_col + b * BLOCK, x, x_col, s0, wp, w_off + b * step, kn)


@njit(_nrt=False, cache=True, error_model="numpy")
def int_matmul(acc, acc_col, q, q_col, ts, wp, w_off, k2n, nblocks):
    """acc[s, acc_col + n] = sum_k q[s, q_col + k] * W[n, k] for s < ts.

    ``q`` is int16 with pairs starting at the even column ``q_col``; ``W`` is packed at
    ``wp[w_off:]`` with ``k2n`` input pairs and ``nblocks`` blocks of 16 outputs; ``acc`` is int32
    with room for ``nblocks * 16`` columns and ``ts`` rows.
    """
    _blocked(acc, acc_col, q, q_col, ts, wp, w_off, k2n, nblocks, 2 * BLOCK)


@njit(_nrt=False, cache=True, error_model="numpy")
def float_matmul_acc(out, x, x_col, ts, wp, w_off, kn, nblocks):
    """out[s, n] += sum_k x[s, x_col + k] * W[k, n] for s < ts, n < 16 nblocks.

    ``W`` is packed by :func:`pack_rows` at ``wp[w_off:]`` with ``kn`` inputs; ``out`` has room for
    ``nblocks * 16`` columns and ``ts`` rows.
    """
    _blocked(out, 0, x, x_col, ts, wp, w_off, kn, nblocks, BLOCK)
