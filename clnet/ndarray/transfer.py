"""Copies between arrays: same device (a kernel), devices of one platform (a buffer copy
ordered by events across the two queues), other platforms (through the host)."""
from __future__ import annotations

from ..ops import mapping


def copy(src, dst):
    """Enqueue dst[...] = src (same shape; dtypes may differ: converted on the device)."""
    if src.context == dst.context:
        mapping.run(dst.device, "x", "_copy", dst.view_desc(), [src.view_desc()],
                    compute_dtype=dst._dt)
        return
    if src._dt is not dst._dt:
        src = src.astype(dst._dt)
    sdev, ddev = src.device, dst.device
    nbytes = src.size * src._dt.np.itemsize
    if nbytes == 0:
        return
    if sdev.cl_context is ddev.cl_context:
        import pyopencl as cl
        from ..runtime import replay
        replay.taint("copy between devices")
        sdev.flush_deferred()
        ddev.flush_deferred()
        # The copy runs on the source queue (ordered after src's writers); it first waits for
        # everything already queued on the destination device, which may still use dst.
        marker = cl.enqueue_marker(ddev.queue)
        wait = [marker] + (sdev._take_pending([src._buf, dst._buf]) or [])
        evt = cl.enqueue_copy(sdev.queue, dst._buf.cl_buffer, src._buf.cl_buffer,
                              byte_count=nbytes,
                              src_offset=src._offset * src._dt.np.itemsize,
                              dst_offset=dst._offset * dst._dt.np.itemsize, wait_for=wait)
        dst._buf.pending.append(evt)
        sdev.queue.flush()
    else:
        ddev.write(dst._buf, src.asnumpy(), dst._offset * dst._dt.np.itemsize)
