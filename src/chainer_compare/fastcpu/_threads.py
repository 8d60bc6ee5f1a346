"""The thread count, and Python threads splitting work where the compiled library is absent.

NumPy releases the GIL in BLAS and in copies, so one call's work cut into
chunks runs on all cores.  With the compiled library, :mod:`._native` runs
kernels and Python work alike on pool.c's threads instead.
"""
import itertools
import os
import queue
import threading

#: Chunks per thread of a split batch (:func:`chunks`; pool.c's jobs and
#: :func:`split_batch` alike).  Threads take chunks as they become free, so a
#: thread that starts late or runs slow does not hold the others up; with one
#: fixed chunk each, the calling thread waited for a late worker on every call.
CHUNKS_PER_THREAD = 4

_lock = threading.Lock()
_state = {}


def threads():
    """Threads for the kernels: OMP_NUM_THREADS if set (a study's share), else the CPUs."""
    setting = os.environ.get('OMP_NUM_THREADS', '')
    cached = _state.get('threads')
    if cached is not None and cached[0] == setting:
        return cached[1]
    try:
        n = int(setting)
    except ValueError:
        n = 0
    if n < 1:
        n = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    _state['threads'] = setting, max(1, n)
    return max(1, n)


def _work_loop(tasks):
    while True:
        tasks.get()()


def _tasks(workers):
    """The queue that ``workers`` daemon threads of this process serve (started once)."""
    with _lock:
        if _state.get('pid') != os.getpid():  # none yet, or inherited through fork
            _state.update(pid=os.getpid(), queue=queue.SimpleQueue(), started=0)
        while _state['started'] < workers:
            threading.Thread(target=_work_loop, args=(_state['queue'],), daemon=True,
                             name='fastcpu-{}'.format(_state['started'])).start()
            _state['started'] += 1
        return _state['queue']


def chunks(n, workers):
    """Chunks a batch of ``n`` is cut into on ``workers`` threads (an empty batch: one)."""
    return max(1, min(workers * CHUNKS_PER_THREAD, n)) if workers > 1 else 1


def split_batch(n, work):
    """Run ``work(lo, hi)`` over [0, n) in contiguous chunks on all threads; wait for all.

    The calling thread works too; each thread takes the next chunk when it is
    done with one, and the call returns as soon as every chunk is done (a
    worker that wakes up later finds none left).  Returns the chunks' results
    in order; an exception in any chunk is raised here.
    """
    workers = threads()
    parts = chunks(n, workers)
    bounds = [n * i // parts for i in range(parts + 1)]
    if workers == 1 or parts == 1:
        return [work(bounds[i], bounds[i + 1]) for i in range(parts)]
    results, errors = [None] * parts, []
    taken, done = itertools.count(), itertools.count(1)  # next() is atomic under the GIL
    finished = threading.Event()

    def drain():
        i = next(taken)
        while i < parts:
            try:
                results[i] = work(bounds[i], bounds[i + 1])
            except BaseException as error:  # raised by the caller below
                errors.append(error)
            if next(done) == parts:
                finished.set()
            i = next(taken)
    tasks = _tasks(workers - 1)
    for _ in range(workers - 1):
        tasks.put(drain)
    drain()
    finished.wait()
    if errors:
        raise errors[0]
    return results
