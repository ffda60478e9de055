"""The LSTM cell over 16 units at once, as explicit LLVM vector IR (``<16 x float>``).

LLVM's loop vectoriser picks 256-bit vectors on Intel's AVX-512 cores (their ``prefer-256-bit``
tuning), so the gate math of :func:`edge_lstm.runtime.kernels.numba_f32.lstm_gates_tile` ran eight
lanes wide there. Written as 16-lane vectors, every target lowers it to its own widest registers:
one zmm on AVX-512, two ymm on AVX2, four NEON q registers on aarch64. The arithmetic is that of
:mod:`edge_lstm.runtime.kernels.fastmath` (the same rational tanh, fast-math flags as Numba's
``fastmath=True``), so it agrees with the scalar loop to float32 rounding.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from edge_lstm.runtime.kernels import fastmath as fm

LANES = 16
_F32 = ir.FloatType()
_VEC = ir.VectorType(_F32, LANES)
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


@intrinsic
def lstm_cells16(typingctx, z, c, h, h_state, u, j):
    """Units ``j .. j+15`` of one stream's LSTM step, tanh and sigmoid gates: from the gate
    pre-activations ``z[:4u]`` (order i, f, g, o) and the cell ``c``, the new cell (in ``c``) and
    output (in ``h`` and ``h_state``). All four arrays 1-D, contiguous, float32."""
    sig = types.void(z, c, h, h_state, u, j)

    def codegen(context, builder, signature, args):
        z_t, c_t, h_t, hs_t = signature.args[:4]
        z_a, c_a, h_a, hs_a, u_v, j_v = args
        u_v = builder.sext(u_v, ir.IntType(64)) if u_v.type.width < 64 else u_v
        j_v = builder.sext(j_v, ir.IntType(64)) if j_v.type.width < 64 else j_v
        gate = [builder.load(_pointer(context, builder, z_t, z_a,
                                      builder.add(j_v, builder.mul(u_v, ir.Constant(ir.IntType(64), g)))), align=4)
                for g in range(4)]
        c_ptr = _pointer(context, builder, c_t, c_a, j_v)
        cell = _op(builder, "fadd", _op(builder, "fmul", _sigmoid(builder, gate[1]), builder.load(c_ptr, align=4)),
                   _op(builder, "fmul", _sigmoid(builder, gate[0]), _tanh(builder, gate[2])))
        out = _op(builder, "fmul", _sigmoid(builder, gate[3]), _tanh(builder, cell))
        builder.store(cell, c_ptr, align=4)
        builder.store(out, _pointer(context, builder, h_t, h_a, j_v), align=4)
        builder.store(out, _pointer(context, builder, hs_t, hs_a, j_v), align=4)
        return context.get_dummy_value()

    return sig, codegen
