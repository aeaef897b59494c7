import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sis.kernel.errno import Errno, KernelError
from sis.kernel.mm.heap import HEAP_BASE, Heap


def test_alloc_free_accounting():
    h = Heap(1 << 20)
    a = h.alloc(100)
    b = h.alloc(5000)
    assert a >= HEAP_BASE and b >= HEAP_BASE and a != b
    assert h.stats.allocs == 2 and h.stats.current_bytes == 112 + 5008
    h.free(a)
    h.free(b)
    assert h.stats.current_bytes == 0 and h.stats.deallocs == 2
    assert h.stats.peak_bytes == 112 + 5008
    assert h.largest_free_block() == h.size  # coalesced back into one block
    h.check()


def test_exhaustion_is_enomem_and_counted():
    h = Heap(64 << 10)
    h.alloc(60 << 10)
    with pytest.raises(KernelError) as e:
        h.alloc(8 << 10)
    assert e.value.errno is Errno.ENOMEM and h.stats.failures == 1


def test_fragmentation_is_real():
    h = Heap(64 << 10)
    blocks = [h.alloc(1024) for _ in range(64)]
    for b in blocks[::2]:
        h.free(b)
    # 32 KiB are free, but in 1 KiB holes: a 2 KiB object does not fit.
    assert h.free_bytes == 32 << 10
    with pytest.raises(KernelError):
        h.alloc(2048)
    assert h.fragmentation() > 0.9
    h.check()


def test_double_free_is_caught():
    h = Heap(1 << 16)
    a = h.alloc(64)
    h.free(a)
    with pytest.raises(KernelError):
        h.free(a)


def test_fail_hook_injects_enomem():
    h = Heap(1 << 16)
    h.fail_hook = lambda size, tag: tag == "victim"
    h.alloc(64, "other")
    with pytest.raises(KernelError):
        h.alloc(64, "victim")
    assert h.stats.failures == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 9000)), max_size=200))
def test_random_alloc_free_keeps_the_arena_tiled(ops):
    h = Heap(256 << 10)
    live: list[int] = []
    for do_alloc, size in ops:
        if do_alloc or not live:
            try:
                live.append(h.alloc(size))
            except KernelError:
                pass
        else:
            h.free(live.pop(size % len(live)))
        h.check()
    for a in live:
        h.free(a)
    assert h.stats.current_bytes == 0 and h.largest_free_block() == h.size
