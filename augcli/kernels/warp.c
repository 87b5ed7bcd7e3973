/* The _warp module: the Python face of the warp and the remap (warp.h describes the kernels), the
 * pixel view of a Pillow image's memory, pack_rgb, and the AddressSanitizer self-test.
 */
#include "warp.h"

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

static int active_path = AUGCLI_SCALAR;

/* ---------------------------------------------------------------------------------------------- */
/* Python face */

#define MAX_SIDE (1 << 30) /* widths and heights: every index, tile end and (h - 1) * stride stays exact */

static int check_extent(const char *what, Py_ssize_t len, int32_t w, int32_t h, ptrdiff_t stride, int bpp)
{
    if (w > MAX_SIDE || h > MAX_SIDE) {
        PyErr_Format(PyExc_ValueError, "%s: image too large: %dx%d (each side at most %d)", what, (int)w, (int)h,
                     MAX_SIDE);
        return -1;
    }
    if (w < 1 || h < 1 || stride < (ptrdiff_t)w * bpp) {
        PyErr_Format(PyExc_ValueError, "%s: bad geometry %dx%d, stride %zd", what, (int)w, (int)h, (Py_ssize_t)stride);
        return -1;
    }
    const ptrdiff_t row = (ptrdiff_t)w * bpp; /* at most 2^32 */
    /* (h - 1) * stride + row, refused before it could overflow */
    if ((h > 1 && stride > (PTRDIFF_MAX - row) / (h - 1)) || (h - 1) * stride + row > (ptrdiff_t)len) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes is too small for %dx%d", what, len, (int)w, (int)h);
        return -1;
    }
    return 0;
}

/* The arguments warp and remap share, checked (an error set and -1 when one is wrong), and the job
 * filled from them; ``what`` names the kernel in the messages. */
static int setup_job(warp_job *j, const char *what, const Py_buffer *src, int sw, int sh, Py_ssize_t ss, int bpp,
                     int sbpp, int wide, const Py_buffer *dst, int dw, int dh, Py_ssize_t ds, int fill, int interp,
                     const char *cval, Py_ssize_t cval_len)
{
    char src_name[32], dst_name[32];
    snprintf(src_name, sizeof src_name, "%s source", what);
    snprintf(dst_name, sizeof dst_name, "%s output", what);
    if (!(bpp == 1 || bpp == 2 || bpp == 4) || (wide && bpp != 2) || cval_len != bpp) {
        PyErr_Format(PyExc_ValueError, "%s: pixels must have 1, 2 or 4 bytes (16-bit: 2), and so must cval", what);
        return -1;
    }
    if (sbpp != bpp && !(sbpp == 3 && bpp == 4)) {
        PyErr_Format(PyExc_ValueError, "%s: the source has the output's bytes per pixel, or 3 (packed RGB) for 4",
                     what);
        return -1;
    }
    if (fill < FILL_NEAREST || fill > FILL_CONSTANT || (interp != INTERP_NEAREST && interp != INTERP_BILINEAR)) {
        PyErr_Format(PyExc_ValueError, "%s: unknown fill mode or interpolation", what);
        return -1;
    }
    if (check_extent(src_name, src->len, sw, sh, ss, sbpp) || check_extent(dst_name, dst->len, dw, dh, ds, bpp))
        return -1;
    j->src = src->buf;
    j->sw = sw;
    j->sh = sh;
    j->ss = ss;
    j->bpp = bpp;
    j->sbpp = sbpp;
    j->slack = src->len - (Py_ssize_t)((sh - 1) * (ptrdiff_t)ss + (ptrdiff_t)sw * sbpp);
    j->wide = wide;
    j->dst = dst->buf;
    j->dw = dw;
    j->dh = dh;
    j->ds = ds;
    j->fill = fill;
    j->interp = interp;
    memset(j->cval, 0, sizeof j->cval);
    memcpy(j->cval, cval, (size_t)cval_len);
    return 0;
}

static PyObject *py_warp(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer src, dst;
    int sw, sh, dw, dh, bpp, wide, fill, interp, sbpp = 0;
    Py_ssize_t ss, ds;
    const char *cval;
    Py_ssize_t cval_len;
    warp_job j;
    if (!PyArg_ParseTuple(args, "y*iinipw*iin(ddddddddd)iiy#|i", &src, &sw, &sh, &ss, &bpp, &wide, &dst, &dw, &dh, &ds,
                          &j.m[0], &j.m[1], &j.m[2], &j.m[3], &j.m[4], &j.m[5], &j.m[6], &j.m[7], &j.m[8], &fill,
                          &interp, &cval, &cval_len, &sbpp))
        return NULL;
    if (!sbpp)
        sbpp = bpp;
    const int bad = setup_job(&j, "warp", &src, sw, sh, ss, bpp, sbpp, wide, &dst, dw, dh, ds, fill, interp, cval,
                              cval_len) != 0;
    if (!bad) {
        j.affine = j.m[6] == 0.0 && j.m[7] == 0.0 && j.m[8] == 1.0;
        const int path = active_path;
        Py_BEGIN_ALLOW_THREADS
        run_warp(&j, path);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (bad)
        return NULL;
    Py_RETURN_NONE;
}

/* remap(src, sw, sh, sstride, bpp, wide, dst, dw, dh, dstride, grid, gw, gh, gshift, fill, interp, cval[, sbpp]):
 * the grid is gw x gh nodes of two little-endian int64 (u, v, 16.16), copied here (aligned, checked) */
static PyObject *py_remap(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer src, dst, grid;
    int sw, sh, dw, dh, bpp, wide, fill, interp, gw, gh, gshift, sbpp = 0;
    Py_ssize_t ss, ds;
    const char *cval;
    Py_ssize_t cval_len;
    warp_job j;
    memset(&j, 0, sizeof j);
    if (!PyArg_ParseTuple(args, "y*iinipw*iiny*iiiiiy#|i", &src, &sw, &sh, &ss, &bpp, &wide, &dst, &dw, &dh, &ds, &grid,
                          &gw, &gh, &gshift, &fill, &interp, &cval, &cval_len, &sbpp))
        return NULL;
    if (!sbpp)
        sbpp = bpp;
    int bad = 1;
    int64_t *nodes = NULL;
    if (setup_job(&j, "remap", &src, sw, sh, ss, bpp, sbpp, wide, &dst, dw, dh, ds, fill, interp, cval, cval_len)) {
        /* the error is set */
    } else if (gshift < 0 || gshift > 8 || gw < ((dw - 1) >> gshift) + 2 || gh < ((dh - 1) >> gshift) + 2 ||
               (int64_t)gw * gh > ((int64_t)1 << 40) / 16 || grid.len != (Py_ssize_t)gw * gh * 16) {
        PyErr_SetString(PyExc_ValueError, "remap: the grid must have a node every 2^gshift pixels (gshift 0..8) "
                                          "past both ends of the output, 16 bytes each");
    } else if (!(nodes = PyMem_Malloc((size_t)grid.len))) {
        PyErr_NoMemory();
    } else {
        const uint8_t *g = grid.buf;
        bad = 0;
        for (Py_ssize_t i = 0; i < 2 * (Py_ssize_t)gw * gh && !bad; i++) {
            uint64_t v = 0;
            for (int b = 7; b >= 0; b--)
                v = (v << 8) | g[8 * i + b];
            nodes[i] = (int64_t)v;
            if (nodes[i] > GRID_LIMIT || nodes[i] < -GRID_LIMIT) {
                PyErr_SetString(PyExc_ValueError, "remap: a grid node lies beyond +-2^29 pixels");
                bad = 1;
            }
        }
    }
    if (!bad) {
        j.grid = nodes;
        j.gw = gw;
        j.gh = gh;
        j.gshift = gshift;
        const int path = active_path;
        Py_BEGIN_ALLOW_THREADS
        run_remap(&j, path);
        Py_END_ALLOW_THREADS
    }
    PyMem_Free(nodes);
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    PyBuffer_Release(&grid);
    if (bad)
        return NULL;
    Py_RETURN_NONE;
}

AUGCLI_PATH_FUNCTIONS(active_path)

/* ---------------------------------------------------------------------------------------------- */
/* Pillow's own pixel memory, through its Arrow export (zero copy): a buffer object that keeps the
 * exporting capsule (and so the image memory) alive for as long as it is used. */

struct ArrowArray { /* the Arrow C data interface's array, as the specification defines it */
    int64_t length, null_count, offset, n_buffers, n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

typedef struct {
    PyObject_HEAD PyObject *owner;
    void *ptr;
    Py_ssize_t len;
    int readonly;
} PixelView;

static int pv_getbuffer(PyObject *o, Py_buffer *view, int flags)
{
    PixelView *v = (PixelView *)o;
    return PyBuffer_FillInfo(view, o, v->ptr, v->len, v->readonly, flags);
}

static void pv_dealloc(PyObject *o)
{
    Py_XDECREF(((PixelView *)o)->owner);
    Py_TYPE(o)->tp_free(o);
}

static PyBufferProcs pv_as_buffer = {pv_getbuffer, NULL};

static PyTypeObject PixelViewType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "augcli.kernels._warp.PixelView",
    .tp_basicsize = sizeof(PixelView),
    .tp_dealloc = pv_dealloc,
    .tp_as_buffer = &pv_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The pixel memory of a Pillow image (from its Arrow export).",
};

/* pixel_view(arrow_array_capsule, nbytes, item_size, writable): the data buffer of a primitive
 * array (or of the one child of a fixed-size list), checked to hold at least nbytes. */
static PyObject *py_pixel_view(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *capsule;
    Py_ssize_t nbytes, item;
    int writable;
    if (!PyArg_ParseTuple(args, "Onnp", &capsule, &nbytes, &item, &writable))
        return NULL;
    struct ArrowArray *a = PyCapsule_GetPointer(capsule, "arrow_array");
    if (!a)
        return NULL;
    if (a->n_children == 1 && a->children && a->children[0])
        a = a->children[0];
    if (a->n_buffers < 2 || !a->buffers || !a->buffers[1] || a->offset != 0 || item < 1 || nbytes < 0 ||
        a->length > PY_SSIZE_T_MAX / item || a->length * item < nbytes) {
        PyErr_SetString(PyExc_ValueError, "pixel_view: not a plain pixel buffer of the expected size");
        return NULL;
    }
    PixelView *v = PyObject_New(PixelView, &PixelViewType);
    if (!v)
        return NULL;
    Py_INCREF(capsule);
    v->owner = capsule;
    v->ptr = (void *)a->buffers[1];
    v->len = nbytes;
    v->readonly = !writable;
    return (PyObject *)v;
}

/* pack_rgb(buffer, npx): npx RGBX pixels packed in place to RGB (3 bytes each, from the front; the
 * pad bytes are dropped), then the whole pages after the packed pixels and 8 bytes of slack handed
 * back to the system (Linux: madvise MADV_DONTNEED, so they no longer count in the process's memory
 * and read as zeros if touched again). Returns the number of bytes handed back (0 elsewhere). The
 * buffer must hold exactly 4 npx bytes and stay unused as RGBX afterwards. */
static PyObject *py_pack_rgb(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer b;
    Py_ssize_t npx;
    if (!PyArg_ParseTuple(args, "w*n", &b, &npx))
        return NULL;
    if (npx < 1 || npx > PY_SSIZE_T_MAX / 4 || b.len != 4 * npx) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "pack_rgb: the buffer must hold exactly 4 bytes per pixel");
        return NULL;
    }
    uint8_t *p = b.buf;
    Py_ssize_t released = 0;
    Py_BEGIN_ALLOW_THREADS
    /* forwards: pixels are read before the bytes they move to (3 i <= 4 i) are written */
    const int le = (union { uint32_t u; uint8_t b[4]; }){1}.b[0] == 1;
    Py_ssize_t i = 0;
    for (; le && i + 4 <= npx; i += 4) { /* 4 pixels, 16 bytes read, 12 written */
        uint32_t v[4], o[3];
        memcpy(v, p + 4 * i, 16);
        o[0] = (v[0] & 0xFFFFFFu) | (v[1] << 24);
        o[1] = ((v[1] >> 8) & 0xFFFFu) | (v[2] << 16);
        o[2] = ((v[2] >> 16) & 0xFFu) | (v[3] << 8);
        memcpy(p + 3 * i, o, 12);
    }
    for (; i < npx; i++)
        memmove(p + 3 * i, p + 4 * i, 3);
    memset(p + 3 * npx, 0, (size_t)(npx < 8 ? npx : 8)); /* the slack the SIMD reads may touch */
#if defined(__linux__) && defined(MADV_DONTNEED)
    const long page = sysconf(_SC_PAGESIZE);
    if (page > 0) {
        const uintptr_t lo = ((uintptr_t)(p + 3 * npx + 8) + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
        const uintptr_t hi = (uintptr_t)(p + 4 * npx) & ~((uintptr_t)page - 1);
        if (hi > lo && madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0)
            released = (Py_ssize_t)(hi - lo);
    }
#endif
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&b);
    return PyLong_FromSsize_t(released);
}

#ifdef AUGCLI_ASAN_SELFTEST
/* `make asan` only: one deliberate heap over-read, to prove the sanitizer is live before trusting a
 * clean run. Never compiled into a normal build. */
static PyObject *py_overread(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    volatile uint8_t *p = malloc(16);
    if (!p)
        return PyErr_NoMemory();
    const int v = p[16];
    free((void *)p);
    return PyLong_FromLong(v);
}
#endif

static PyMethodDef methods[] = {
#ifdef AUGCLI_ASAN_SELFTEST
    {"_overread", py_overread, METH_NOARGS, "ASan self-test: reads one byte past a heap block."},
#endif
    {"warp", py_warp, METH_VARARGS,
     "warp(src, sw, sh, sstride, bpp, wide, dst, dw, dh, dstride, matrix9, fill, interp, cval[, sbpp])"},
    {"remap", py_remap, METH_VARARGS,
     "remap(src, sw, sh, sstride, bpp, wide, dst, dw, dh, dstride, grid, gw, gh, gshift, fill, interp, cval[, sbpp])"},
    {"pack_rgb", py_pack_rgb, METH_VARARGS, "pack_rgb(rgbx_buffer, npx): RGBX packed to RGB in place; bytes released"},
    {"pixel_view", py_pixel_view, METH_VARARGS, "pixel_view(arrow_array_capsule, nbytes, item_size, writable)"},
    {"available", py_available, METH_NOARGS, "The kernel paths this CPU can run, best last."},
    {"set_path", py_set_path, METH_O, "Use the named path (scalar, avx2, avx512)."},
    {"path", py_path, METH_NOARGS, "The active path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_warp", "augcli's warp kernel", -1, methods};

PyMODINIT_FUNC PyInit__warp(void)
{
    if (augcli_check_shifts() < 0)
        return NULL;
    active_path = augcli_best_path();
    if (PyType_Ready(&PixelViewType) < 0)
        return NULL;
    return PyModule_Create(&module);
}