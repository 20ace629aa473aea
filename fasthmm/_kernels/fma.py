"""A fused multiply-add for the kernels: ``fma(a, b, c) = a * b + c`` rounded once.

Numba compiles ``a * b + c`` as a multiplication and an addition, each rounded
(no ``fastmath``), and LLVM may not fuse them. :func:`fma` calls LLVM's
``llvm.fma.f64``: one rounding, one instruction on every CPU with FMA (x86-64
since Haswell, AArch64), and it vectorises like any arithmetic. On a CPU
without FMA, LLVM calls the C library's ``fma``: the same result, slower. Writing the
fusion explicitly, rather than allowing it with ``fastmath={"contract"}``,
makes the result the same whichever function a kernel is inlined into, and
never depends on the optimiser's choices.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` with a single rounding (float64 arguments)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(d, [d, d, d]), "llvm.fma.f64"
        )
        return builder.call(fn, args)

    return sig, codegen
