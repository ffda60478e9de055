"""Does Intel AMX speed up numba-int8's matrix products? (issue 23; AMX-INT8 CPUs only)

AMX multiplies int8 by int8; the kernel's activations are int16. Split each into planes,
q = 256 hi + lo (hi signed int8, lo unsigned 0..255), and the product is exact:
acc = 256 (hi @ W) + (lo @ W), ``tdpbssd`` for the first, ``tdpbusd`` for the second. Weights are
packed in AMX's layout (K/4 rows of 16 outputs x 4 bytes per 64-input chunk); 16 streams are a tile's
rows; two 16-output blocks are in flight at once (8 tiles). Linux must grant the tile state first
(``arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)``), else the first tile instruction is SIGILL.

Measured 2026-12-02 on a 2-core Intel Xeon guest (family 6 model 167, AMX-INT8, 2.0 GHz nominal),
exact on every shape; time per call for 16 streams, against the VNNI micro-kernel (``vpdpwssd``,
``int_matmul``) on the same product in the same process, 3 rounds: 64 inputs x 256 outputs 2.7-2.9 us
(VNNI 2.1-2.3 us); 64 x 128 0.59 us (VNNI 0.85-0.91 us); 32 x 128 0.58-0.60 us (VNNI 0.46-0.48 us); one input
x 256 outputs 1.5-2.9 us (VNNI 0.5 us). The cost goes with the 16-output blocks (tile loads and stores,
~100-170 ns each), not the multiply-adds: with 16 streams a tile is too small a product for AMX to
pay, and the seed model's step would gain nothing. Not built into the kernel.

Run: python research/amx_product.py (prints exactness and time per shape, or why it cannot run).
"""

import ctypes
import sys
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

I8, I16, I32, I64 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
VOID = ir.VoidType()

def fn(module, name, ret, args):
    return cgutils.get_or_insert_function(module, ir.FunctionType(ret, args), name)

@intrinsic
def amx_product(typingctx, cfg, ahi, alo, wb, acc, kchunks, nblocks):
    """acc[16 streams, n*16 + j] (hi part at column n*32 + j, lo at n*32 + 16 + j)..."""
    sig = types.void(cfg, ahi, alo, wb, acc, kchunks, nblocks)
    def codegen(context, builder, signature, args):
        cfg_t, ahi_t, alo_t, wb_t, acc_t = signature.args[:5]
        cfg_a, ahi_a, alo_a, wb_a, acc_a, kc_v, nb_v = args
        m = builder.module
        def data(t, a):
            return context.make_array(t)(context, builder, a).data
        i8p = ir.IntType(8).as_pointer()
        ldcfg = fn(m, "llvm.x86.ldtilecfg", VOID, [i8p])
        load = fn(m, "llvm.x86.tileloadd64", VOID, [I8, i8p, I64])
        store = fn(m, "llvm.x86.tilestored64", VOID, [I8, i8p, I64])
        zero = fn(m, "llvm.x86.tilezero", VOID, [I8])
        ss = fn(m, "llvm.x86.tdpbssd", VOID, [I8, I8, I8])
        us = fn(m, "llvm.x86.tdpbusd", VOID, [I8, I8, I8])
        def t(k):
            return ir.Constant(I8, k)
        builder.call(ldcfg, [builder.bitcast(data(cfg_t, cfg_a), i8p)])
        ahi_p = builder.bitcast(data(ahi_t, ahi_a), i8p)
        alo_p = builder.bitcast(data(alo_t, alo_a), i8p)
        wb_p = builder.bitcast(data(wb_t, wb_a), i8p)
        acc_p = builder.bitcast(data(acc_t, acc_a), i8p)
        stride_a = builder.mul(kc_v, ir.Constant(I64, 64))  # bytes per stream row of the planes
        acc_stride = builder.mul(nb_v, ir.Constant(I64, 128))  # int32 hi/lo pairs of 16
        # two blocks per pass (tiles 0,1 and 2,3 accumulate; 4,5 the planes; 6,7 the weights), nb even
        half = builder.udiv(nb_v, ir.Constant(I64, 2))
        with cgutils.for_range(builder, half) as nloop:
            n0 = builder.mul(nloop.index, ir.Constant(I64, 2))
            for tt in range(4):
                builder.call(zero, [t(tt)])
            with cgutils.for_range(builder, kc_v) as kloop:
                k = kloop.index
                off = builder.mul(k, ir.Constant(I64, 64))
                builder.call(load, [t(4), builder.gep(ahi_p, [off]), stride_a])
                builder.call(load, [t(5), builder.gep(alo_p, [off]), stride_a])
                for e in range(2):
                    n = builder.add(n0, ir.Constant(I64, e))
                    boff = builder.mul(builder.add(builder.mul(n, kc_v), k), ir.Constant(I64, 1024))
                    builder.call(load, [t(6 + e), builder.gep(wb_p, [boff]), ir.Constant(I64, 64)])
                for e in range(2):
                    builder.call(ss, [t(2 * e), t(4), t(6 + e)])
                    builder.call(us, [t(2 * e + 1), t(5), t(6 + e)])
            for e in range(2):
                n = builder.add(n0, ir.Constant(I64, e))
                coff = builder.mul(n, ir.Constant(I64, 128))
                builder.call(store, [t(2 * e), builder.gep(acc_p, [coff]), acc_stride])
                lo_at = builder.gep(acc_p, [builder.add(coff, ir.Constant(I64, 64))])
                builder.call(store, [t(2 * e + 1), lo_at, acc_stride])
        return context.get_dummy_value()
    return sig, codegen

def make_cfg():
    cfg = np.zeros(64, np.uint8)
    cfg[0] = 1
    colsb = cfg[16:48].view(np.uint16)
    rows = cfg[48:64]
    for tt in range(8):
        colsb[tt] = 64
        rows[tt] = 16
    return cfg

def pack_amx(w, kchunks):
    """w int8 (N, K) -> (nblocks, kchunks, 16 rows (k/4), 16 cols, 4) int8."""
    n, k = w.shape
    nb = -(-n // 16)
    p = np.zeros((nb * 16, kchunks * 64), np.int8)
    p[:n, :k] = w
    # [b, c, r, j, t] = p[16b + j, 64c + 4r + t]
    return np.ascontiguousarray(p.reshape(nb, 16, kchunks, 16, 4).transpose(0, 2, 3, 1, 4)).ravel()

@njit
def run(reps, cfg, ahi, alo, wb, acc, kc, nb):
    for _r in range(reps):
        amx_product(cfg, ahi, alo, wb, acc, kc, nb)


def main() -> None:
    if "amx_int8" not in open("/proc/cpuinfo").read():
        sys.exit("this CPU has no AMX-INT8")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(158, 0x1023, 18) != 0:  # arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)
        sys.exit("the kernel did not grant the AMX tile state")
    rng = np.random.default_rng(0)
    for K, N in ((64, 256), (1, 256), (64, 128), (32, 128), (130, 64)):
        kc = -(-K // 64)
        q = rng.integers(-32767, 32768, (16, K)).astype(np.int32)
        w = rng.integers(-127, 128, (N, K)).astype(np.int8)
        qp = np.zeros((16, kc * 64), np.int32)
        qp[:, :K] = q
        hi, lo = (qp >> 8).astype(np.int8), (qp & 255).astype(np.uint8)
        nb = -(-N // 16)
        acc = np.zeros((16, nb * 32), np.int32)
        cfg, wb = make_cfg(), pack_amx(w, kc)
        run(1, cfg, hi, lo, wb, acc, kc, nb)
        a3 = acc.reshape(16, nb, 2, 16)
        got = (a3[:, :, 0].astype(np.int64) * 256 + a3[:, :, 1]).reshape(16, nb * 16)[:, :N]
        want = q.astype(np.int64) @ w.T.astype(np.int64)
        reps = 20000
        t = time.perf_counter()
        run(reps, cfg, hi, lo, wb, acc, kc, nb)
        dt = (time.perf_counter() - t) / reps
        print(f"{K} inputs x {N} outputs: exact {np.array_equal(got, want)}, {dt * 1e9:.0f} ns per 16 streams")


if __name__ == "__main__":
    main()
