"""The LSTM cell over 16 units at once, as explicit LLVM vector IR (``<16 x float>``).

LLVM's loop vectoriser picks 256-bit vectors on Intel's AVX-512 cores (their ``prefer-256-bit``
tuning), so the gate math of :func:`edge_lstm.runtime.kernels.numba_f32.lstm_gates_tile` ran eight
lanes wide there. Written as 16-lane vectors, every target lowers it to its own widest registers:
one zmm on AVX-512, two ymm on AVX2, four NEON q registers on aarch64. The arithmetic is that of
:mod:`edge_lstm.runtime.kernels.fastmath` (the same rational tanh, fast-math flags as Numba's
``fastmath=True``), so it agrees with the scalar loop to float32 rounding.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from edge_lstm.runtime.kernels import fastmath as fm
from edge_lstm.runtime.kernels.microkernel import _features

LANES = 16
_F32 = ir.FloatType()
_VEC = ir.VectorType(_F32, LANES)
_I64 = ir.IntType(64)
_FAST = ("fast",)


def _splat(value) -> ir.Constant:
    return ir.Constant(_VEC, [float(value)] * LANES)


def _op(builder, name: str, lhs, rhs):
    instr = getattr(builder, name)(lhs, rhs)
    instr.flags.extend(_FAST)
    return instr


def _tanh(builder, x):
    """fastmath.tanh32 on 16 lanes: clamp, then the 13/6 rational."""
    lo = builder.fcmp_ordered("<", x, _splat(-fm._CLAMP), flags=_FAST)
    x = builder.select(lo, _splat(-fm._CLAMP), x)
    hi = builder.fcmp_ordered(">", x, _splat(fm._CLAMP), flags=_FAST)
    x = builder.select(hi, _splat(fm._CLAMP), x)
    x2 = _op(builder, "fmul", x, x)
    p = _splat(fm._A13)
    for coeff in (fm._A11, fm._A9, fm._A7, fm._A5, fm._A3, fm._A1):
        p = _op(builder, "fadd", _op(builder, "fmul", p, x2), _splat(coeff))
    p = _op(builder, "fmul", p, x)
    q = _splat(fm._B6)
    for coeff in (fm._B4, fm._B2, fm._B0):
        q = _op(builder, "fadd", _op(builder, "fmul", q, x2), _splat(coeff))
    return _op(builder, "fdiv", p, q)


def _sigmoid(builder, x):
    """fastmath.sigmoid32 on 16 lanes: 0.5 + 0.5 tanh(x / 2)."""
    half = _splat(0.5)
    return _op(builder, "fadd", half, _op(builder, "fmul", half, _tanh(builder, _op(builder, "fmul", half, x))))


def _pointer(context, builder, arrty, arr, index):
    """Pointer to ``arr[index]`` of a contiguous 1-D float32 array, as ``<16 x float>*``."""
    data = context.make_array(arrty)(context, builder, arr).data
    return builder.bitcast(builder.gep(data, [index]), _VEC.as_pointer())


def _cell(context, builder, gate, c_ptr, outputs):
    """The cell from four gate vectors (i, f, g, o): new c stored at ``c_ptr``, new h at each of ``outputs``."""
    cell = _op(builder, "fadd", _op(builder, "fmul", _sigmoid(builder, gate[1]), builder.load(c_ptr, align=4)),
               _op(builder, "fmul", _sigmoid(builder, gate[0]), _tanh(builder, gate[2])))
    out = _op(builder, "fmul", _sigmoid(builder, gate[3]), _tanh(builder, cell))
    builder.store(cell, c_ptr, align=4)
    for ptr in outputs:
        builder.store(out, ptr, align=4)


def _i64(builder, value):
    return builder.sext(value, _I64) if value.type.width < 64 else value


def _gate_offsets(builder, u_v, j_v):
    return [builder.add(j_v, builder.mul(u_v, ir.Constant(_I64, g))) for g in range(4)]


@intrinsic
def lstm_cells16(typingctx, z, c, h, h_state, u, j):
    """Units ``j .. j+15`` of one stream's LSTM step, tanh and sigmoid gates: from the gate
    pre-activations ``z[:4u]`` (order i, f, g, o) and the cell ``c``, the new cell (in ``c``) and
    output (in ``h`` and ``h_state``). All four arrays 1-D, contiguous, float32."""
    sig = types.void(z, c, h, h_state, u, j)

    def codegen(context, builder, signature, args):
        z_t, c_t, h_t, hs_t = signature.args[:4]
        z_a, c_a, h_a, hs_a, u_v, j_v = args
        j_v = _i64(builder, j_v)
        gate = [builder.load(_pointer(context, builder, z_t, z_a, at), align=4)
                for at in _gate_offsets(builder, _i64(builder, u_v), j_v)]
        _cell(context, builder, gate, _pointer(context, builder, c_t, c_a, j_v),
              [_pointer(context, builder, h_t, h_a, j_v), _pointer(context, builder, hs_t, hs_a, j_v)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def lstm_cells16_q(typingctx, acc_x, acc_h, scale_x, scale_h, bias, c, h, h_state, u, j):
    """:func:`lstm_cells16` straight from the int8 kernel's int32 products: gate pre-activation
    ``z[k] = acc_x[k] * scale_x[k] + acc_h[k] * scale_h[k] + bias[k]`` (the rescale, fused: no float
    gate buffer written and read back). ``acc_x``, ``acc_h`` int32, the rest float32, all 1-D contiguous."""
    sig = types.void(acc_x, acc_h, scale_x, scale_h, bias, c, h, h_state, u, j)
    ivec = ir.VectorType(ir.IntType(32), LANES)

    def codegen(context, builder, signature, args):
        ax_t, ah_t, sx_t, sh_t, b_t, c_t, h_t, hs_t = signature.args[:8]
        ax_a, ah_a, sx_a, sh_a, b_a, c_a, h_a, hs_a, u_v, j_v = args
        j_v = _i64(builder, j_v)

        def ints(arrty, arr, at):
            data = context.make_array(arrty)(context, builder, arr).data
            raw = builder.load(builder.bitcast(builder.gep(data, [at]), ivec.as_pointer()), align=4)
            return builder.sitofp(raw, _VEC)

        def floats(arrty, arr, at):
            return builder.load(_pointer(context, builder, arrty, arr, at), align=4)

        gate = []
        for at in _gate_offsets(builder, _i64(builder, u_v), j_v):
            zx = _op(builder, "fmul", ints(ax_t, ax_a, at), floats(sx_t, sx_a, at))
            zh = _op(builder, "fmul", ints(ah_t, ah_a, at), floats(sh_t, sh_a, at))
            gate.append(_op(builder, "fadd", _op(builder, "fadd", zx, zh), floats(b_t, b_a, at)))
        _cell(context, builder, gate, _pointer(context, builder, c_t, c_a, j_v),
              [_pointer(context, builder, h_t, h_a, j_v), _pointer(context, builder, hs_t, hs_a, j_v)])
        return context.get_dummy_value()

    return sig, codegen


_HALF = ir.HalfType()
_HVEC = ir.VectorType(_HALF, 2 * LANES)
_WIDE = ir.VectorType(_F32, 2 * LANES)
#: tanh in half precision: a 5/4 rational clamped at ±5 (error up to 1.5e-3 evaluated in halves).
_H_CLAMP = 5.0
_H_NUM = (6.54960573e-04, 1.01723710e-01, 9.99810173e-01)  # x^5, x^3, x
_H_DEN = (1.263935e-02, 4.3450472e-01, 1.0)  # x^4, x^2, 1


def _has_half_vectors() -> bool:
    """Whether Numba compiles for a CPU that does arithmetic on 32 halves at once (AVX512-FP16): only there is the
    half-precision cell faster (elsewhere LLVM would widen every half to a float)."""
    from numba.core.registry import cpu_target

    return "avx512fp16" in _features(cpu_target.target_context)


#: The int8 kernel's LSTM cell computes its activations in half precision, 32 units at a time, where the CPU can.
HALF_GATES = _has_half_vectors()


def gate_path() -> str:
    """How the int8 kernel's LSTM cell computes its activations here, as ``edge-lstm bench`` reports it."""
    return "half precision, 32 lanes (avx512fp16)" if HALF_GATES else "float32, 16 lanes"


def _hsplat(value) -> ir.Constant:
    return ir.Constant(_HVEC, [float(np.float16(value))] * (2 * LANES))


def _tanh_h(builder, x):
    lo = builder.fcmp_ordered("<", x, _hsplat(-_H_CLAMP), flags=_FAST)
    x = builder.select(lo, _hsplat(-_H_CLAMP), x)
    hi = builder.fcmp_ordered(">", x, _hsplat(_H_CLAMP), flags=_FAST)
    x = builder.select(hi, _hsplat(_H_CLAMP), x)
    x2 = _op(builder, "fmul", x, x)
    p = _hsplat(_H_NUM[0])
    for coeff in _H_NUM[1:]:
        p = _op(builder, "fadd", _op(builder, "fmul", p, x2), _hsplat(coeff))
    p = _op(builder, "fmul", p, x)
    q = _hsplat(_H_DEN[0])
    for coeff in _H_DEN[1:]:
        q = _op(builder, "fadd", _op(builder, "fmul", q, x2), _hsplat(coeff))
    return _op(builder, "fdiv", p, q)


def _sigmoid_h(builder, x):
    half = _hsplat(0.5)
    return _op(builder, "fadd", half, _op(builder, "fmul", half, _tanh_h(builder, _op(builder, "fmul", half, x))))


def _join(builder, a, b):
    return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(ir.IntType(32), 2 * LANES), list(range(2 * LANES))))


@intrinsic
def lstm_cells32_q_half(typingctx, acc_x, acc_h, scale_x, scale_h, bias, c, h, h_state, u, j):
    """:func:`lstm_cells16_q` over units ``j .. j+31`` with the activations in half precision (32 lanes a vector on
    AVX512-FP16); the rescale, the cell state and h stay float32."""
    sig = types.void(acc_x, acc_h, scale_x, scale_h, bias, c, h, h_state, u, j)
    ivec = ir.VectorType(ir.IntType(32), LANES)

    def codegen(context, builder, signature, args):
        ax_t, ah_t, sx_t, sh_t, b_t, c_t, h_t, hs_t = signature.args[:8]
        ax_a, ah_a, sx_a, sh_a, b_a, c_a, h_a, hs_a, u_v, j_v = args
        j_v = _i64(builder, j_v)
        j2 = builder.add(j_v, ir.Constant(_I64, LANES))

        def ints(arrty, arr, at):
            data = context.make_array(arrty)(context, builder, arr).data
            raw = builder.load(builder.bitcast(builder.gep(data, [at]), ivec.as_pointer()), align=4)
            return builder.sitofp(raw, _VEC)

        def floats(arrty, arr, at):
            return builder.load(_pointer(context, builder, arrty, arr, at), align=4)

        def wide(arrty, arr, at):
            data = context.make_array(arrty)(context, builder, arr).data
            return builder.bitcast(builder.gep(data, [at]), _WIDE.as_pointer())

        gates = []
        for g in range(4):
            halves = []
            for start in (j_v, j2):
                at = builder.add(start, builder.mul(_i64(builder, u_v), ir.Constant(_I64, g)))
                zx = _op(builder, "fmul", ints(ax_t, ax_a, at), floats(sx_t, sx_a, at))
                zh = _op(builder, "fmul", ints(ah_t, ah_a, at), floats(sh_t, sh_a, at))
                halves.append(_op(builder, "fadd", _op(builder, "fadd", zx, zh), floats(b_t, b_a, at)))
            gates.append(builder.fptrunc(_join(builder, *halves), _HVEC))
        i_g, f_g, o_g = (builder.fpext(_sigmoid_h(builder, gates[k]), _WIDE) for k in (0, 1, 3))
        g_g = builder.fpext(_tanh_h(builder, gates[2]), _WIDE)
        c_ptr = wide(c_t, c_a, j_v)
        cell = _op(builder, "fadd", _op(builder, "fmul", f_g, builder.load(c_ptr, align=4)),
                   _op(builder, "fmul", i_g, g_g))
        out = _op(builder, "fmul", o_g, builder.fpext(_tanh_h(builder, builder.fptrunc(cell, _HVEC)), _WIDE))
        builder.store(cell, c_ptr, align=4)
        builder.store(out, wide(h_t, h_a, j_v), align=4)
        builder.store(out, wide(hs_t, hs_a, j_v), align=4)
        return context.get_dummy_value()

    return sig, codegen


@njit(_nrt=False, cache=True, fastmath=True, inline="always", error_model="numpy")
def _rescaled(ax, ah, scale_x, scale_h, bias, k):
    return np.float32(ax[k]) * scale_x[k] + np.float32(ah[k]) * scale_h[k] + bias[k]


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def lstm_gates_tile_q(acc, acc2, scale_x, scale_h, bias, state, srows, c0, h0, h, ts, u):
    """The int8 kernel's LSTM gate math for a tile (tanh and sigmoid gates), from its int32 products
    ``acc`` (x part) and ``acc2`` (h part) with per-gate ``scale_x``, ``scale_h`` and ``bias`` (1-D, 4u):
    the new c in place in ``state[srows[s], c0:c0+u]``, the new h in ``h[s]`` and ``state[srows[s], h0:h0+u]``."""
    full = u - u % LANES
    for s in range(ts):
        ax, ah, c, hs, hst = acc[s], acc2[s], state[srows[s], c0 : c0 + u], h[s], state[srows[s], h0 : h0 + u]
        if HALF_GATES and u % (2 * LANES) == 0:
            for j in range(0, u, 2 * LANES):
                lstm_cells32_q_half(ax, ah, scale_x, scale_h, bias, c, hs, hst, u, j)
            continue
        for j in range(0, full, LANES):
            lstm_cells16_q(ax, ah, scale_x, scale_h, bias, c, hs, hst, u, j)
        for j in range(full, u):
            zi = _rescaled(ax, ah, scale_x, scale_h, bias, j)
            zf = _rescaled(ax, ah, scale_x, scale_h, bias, u + j)
            zg = _rescaled(ax, ah, scale_x, scale_h, bias, 2 * u + j)
            zo = _rescaled(ax, ah, scale_x, scale_h, bias, 3 * u + j)
            c[j], hj = fm.lstm_cell32(zi, zf, zg, zo, c[j])
            hs[j] = hj
            hst[j] = hj
