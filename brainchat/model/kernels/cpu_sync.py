"""What the fused CPU kernel's threads need to meet inside compiled code: a spin barrier.

numba has no atomics on the CPU, and a plain load in a wait loop may be hoisted out of it by
LLVM (it cannot know another thread writes the value). So the loads and stores the threads
synchronise through are LLVM atomics (acquire / release), written as numba intrinsics with
llvmlite; the wait loop pauses the core between polls (x86 ``pause``) and, after a while,
gives the core to another thread (``sched_yield``), so that more threads than cores (a REPL
beside the stepping threads, a busy machine) cost a time slice, not a hang.

A barrier over ``team`` threads is one int64 slot per thread, 16 slots apart (one cache line
each, no false sharing). Thread ``me`` arrives at its ``k``-th barrier by storing ``k`` in its
slot, then waits until every slot is at least ``k``. A negative slot means a thread gave up
(an error outside the kernel): everyone returns ``False`` and the call ends.
"""

from __future__ import annotations

import platform

import numpy as np

try:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - numba is a dependency; fused_cpu.available() reports it
    intrinsic = None

SLOT = 16  # int64 per thread in the barrier array: 128 bytes apart
SPINS_BEFORE_YIELD = 2_000  # about 20-100 us of polling before the core is offered to others
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")

if intrinsic is not None:

    def _pointer(context, builder, signature, args):
        """The address of ``args[0][args[1]]`` (no wrap-around of negative indices, no bounds check)."""
        array_type, index_type = signature.args[0], signature.args[1]
        ary = context.make_array(array_type)(context, builder, args[0])
        position = context.cast(builder, args[1], index_type, types.intp)
        return cgutils.get_item_pointer(context, builder, array_type, ary, [position], wraparound=False)

    @intrinsic
    def load_acquire(typingctx, array, index):
        """``array[index]`` read with acquire ordering (int64 arrays)."""
        if not (isinstance(array, types.Array) and array.dtype == types.int64 and isinstance(index, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            pointer = _pointer(context, builder, signature, args)
            return builder.load_atomic(pointer, "acquire", 8)

        return types.int64(array, index), codegen

    @intrinsic
    def store_release(typingctx, array, index, value):
        """``array[index] = value`` with release ordering (int64 arrays)."""
        if not (isinstance(array, types.Array) and array.dtype == types.int64 and isinstance(index, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            pointer = _pointer(context, builder, signature, args)
            stored = context.cast(builder, args[2], signature.args[2], types.int64)
            builder.store_atomic(stored, pointer, "release", 8)
            return context.get_dummy_value()

        return types.void(array, index, value), codegen

    @intrinsic
    def pause(typingctx):
        """A spin-wait hint to the core (x86 ``pause``; nothing elsewhere)."""

        def codegen(context, builder, signature, args):
            if _X86:
                function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
                builder.call(function, [])
            return context.get_dummy_value()

        return types.void(), codegen

    @intrinsic
    def yield_core(typingctx):
        """``sched_yield()`` from the C library: let another runnable thread have this core."""

        def codegen(context, builder, signature, args):
            function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
            builder.call(function, [])
            return context.get_dummy_value()

        return types.void(), codegen

    @intrinsic
    def prefetch(typingctx, array, index):
        """Ask for the cache line holding ``array[index]`` (1-D arrays) without waiting for it."""
        if not (isinstance(array, types.Array) and array.ndim == 1 and isinstance(index, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            pointer = _pointer(context, builder, signature, args)
            byte_pointer = ir.IntType(8).as_pointer()
            function = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, ir.IntType(32), ir.IntType(32), ir.IntType(32)]), "llvm.prefetch.p0"
            )
            read, locality, data = (ir.Constant(ir.IntType(32), value) for value in (0, 3, 1))
            builder.call(function, [builder.bitcast(pointer, byte_pointer), read, locality, data])
            return context.get_dummy_value()

        return types.void(array, index), codegen


def barrier(slots, me, team, arrival):  # pragma: no cover - compiled by numba
    """Thread ``me`` of ``team`` arrives at its ``arrival``-th barrier; True once all have, False if one gave up."""
    store_release(slots, me * SLOT, arrival)
    for other in range(team):
        spins = 0
        while True:
            seen = load_acquire(slots, other * SLOT)
            if seen >= arrival:
                break
            if seen < 0:
                return False
            spins += 1
            if spins < SPINS_BEFORE_YIELD:
                pause()
            else:
                yield_core()
    return True


if intrinsic is not None:
    import numba

    barrier = numba.njit(cache=True, nogil=True)(barrier)  # compiled at its first use


def new_slots(team: int) -> np.ndarray:
    """The barrier array of a team: one zeroed slot per thread."""
    return np.zeros(team * SLOT, dtype=np.int64)
